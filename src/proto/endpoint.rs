//! Placeholder: the endpoint is being written (issue 2).
use crate::proto::time::Instant;
use std::net::SocketAddr;

/// A datagram the engine wants sent: the bytes are in the buffer given to `poll_transmit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// How many bytes of the caller's buffer make up the datagram.
    pub len: usize,
    /// Set the IP "don't fragment" bit: the datagram is a path-MTU probe (libutp's `UTP_UDP_DONTFRAG`).
    pub dont_fragment: bool,
}

/// Identifies a connection within its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub u64);
/// placeholder
pub enum Event {}
/// placeholder
pub struct Incoming;
/// placeholder
pub enum DatagramEvent {}
/// placeholder
pub struct Endpoint { _now: Instant }
