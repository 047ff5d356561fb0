//! What the simulator drives: a sans-IO participant with one network address.
//!
//! The contract is the engine's: after every input (`handle_datagram`, `handle_timeout`, or a
//! poke from the test through [`Sim::with_node`](super::Sim::with_node)) the simulator calls
//! `poll_transmit` until it returns `None`, then `poll_timeout` once, and remembers that deadline
//! until the node's next input.

use crate::proto::endpoint::Transmit;
use crate::proto::time::Instant;
use std::net::SocketAddr;

/// Anything the simulator can drive. Tests wrap the engine's endpoint into one.
pub trait Node {
    /// A datagram from `from` arrived at `now`.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]);

    /// The deadline last reported by [`Node::poll_timeout`] has been reached (`now` is at or
    /// after it).
    fn handle_timeout(&mut self, now: Instant);

    /// Next datagram to send, written into `buf`; `None` when there is nothing to send.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit>;

    /// Earliest time the node wants `handle_timeout`.
    fn poll_timeout(&mut self) -> Option<Instant>;
}

impl<N: Node + ?Sized> Node for Box<N> {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        (**self).handle_datagram(now, from, data);
    }

    fn handle_timeout(&mut self, now: Instant) {
        (**self).handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        (**self).poll_transmit(now, buf)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        (**self).poll_timeout()
    }
}
