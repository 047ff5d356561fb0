//! A TCP NewReno bulk flow modelled as simulator nodes: the competitor that uTP's targets are
//! measured against ("at least 0.8 times the throughput of NewReno", "get out of TCP's way").
//!
//! It is a model, not TCP: it speaks a private datagram format ([`wire`]) over the simulated
//! links, with the congestion control of RFC 5681 and RFC 6582 and the timer of RFC 6298:
//!
//! * segments of a fixed payload size (datagrams of 1402 bytes by default, as uTP's);
//! * an initial window of 10 segments (RFC 6928), slow start adding one segment per ACK,
//!   congestion avoidance one segment per round trip (byte counting, RFC 3465);
//! * a cumulative ACK for every data datagram, immediately (RFC 5681 section 4.2 permits this);
//! * fast retransmit on the third duplicate ACK, NewReno fast recovery with partial ACKs
//!   (RFC 6582, the timer reset on the first partial ACK only);
//! * RTO per RFC 6298 with Linux's 200 ms floor, exponential backoff, go-back-N after a timeout;
//! * optionally ([`RenoSender::with_sack`], [`RenoReceiver::with_sack`]) SACK: the receiver
//!   reports its three latest out-of-order ranges in every ACK (RFC 2018) and the sender
//!   recovers with RFC 6675's scoreboard and `pipe` instead of partial ACKs, as the TCP stacks
//!   of Linux, Windows and macOS do; without it, the flow is RFC 6582's plain NewReno;
//! * no limited transmit, no pacing, no receive-window limit, no handshake.
//!
//! [`RenoSender`] and [`RenoReceiver`] are the two ends; [`RenoNode`] makes either one a
//! simulator [`Node`], and [`Host`](super::host::Host) puts one beside a uTP endpoint behind a
//! single address.

mod receiver;
mod rto;
mod scoreboard;
mod sender;
mod window;
pub mod wire;

#[cfg(test)]
mod tests;

pub use receiver::RenoReceiver;
pub use rto::{Rto, INITIAL_RTO, MAX_RTO, MIN_RTO};
pub use sender::{RenoSender, RenoStats};
pub use window::{DUP_THRESH, INITIAL_WINDOW_SEGMENTS};
pub use wire::{SackBlocks, MAX_SACK_BLOCKS};

use super::node::Node;
use crate::proto::endpoint::Transmit;
use crate::proto::time::Instant;
use std::net::SocketAddr;

/// Either end of a NewReno flow, as a simulator node.
#[derive(Debug, Clone)]
pub enum RenoNode {
    /// The sending end.
    Sender(RenoSender),
    /// The receiving end.
    Receiver(RenoReceiver),
}

impl RenoNode {
    /// The sender.
    ///
    /// # Panics
    /// When this is a receiver.
    pub fn sender(&self) -> &RenoSender {
        match self {
            RenoNode::Sender(s) => s,
            RenoNode::Receiver(_) => panic!("not a NewReno sender"),
        }
    }

    /// The receiver.
    ///
    /// # Panics
    /// When this is a sender.
    pub fn receiver(&self) -> &RenoReceiver {
        match self {
            RenoNode::Receiver(r) => r,
            RenoNode::Sender(_) => panic!("not a NewReno receiver"),
        }
    }
}

impl Node for RenoNode {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        match self {
            RenoNode::Sender(s) => s.handle_datagram(now, data),
            RenoNode::Receiver(r) => r.handle_datagram(now, from, data),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let RenoNode::Sender(s) = self {
            s.handle_timeout(now);
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        match self {
            RenoNode::Sender(s) => s.poll_transmit(now, buf),
            RenoNode::Receiver(r) => r.poll_transmit(buf),
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        match self {
            RenoNode::Sender(s) => s.poll_timeout(),
            RenoNode::Receiver(_) => None,
        }
    }
}
