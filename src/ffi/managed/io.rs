//! The UDP socket of a managed context, through which the dispatch loop sends.

use crate::runtime::udp::UdpSocket;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// A managed context's socket.
pub struct ManagedIo {
    /// The bound UDP socket.
    pub socket: UdpSocket,
    /// Datagrams the socket refused to send (counted for diagnostics; the engine's
    /// retransmission covers them).
    pub send_failures: AtomicU64,
}

impl ManagedIo {
    /// Sends one datagram the engine produced (`dont_fragment` for path-MTU probes). Called from
    /// the dispatch loop with the context's lock held. An `IP_RECVERR` error about an earlier
    /// datagram is left in the queue for the worker, which wakes on it (`POLLERR`) and feeds
    /// it to the engine; this datagram is then retried once.
    pub fn send(&self, data: &[u8], to: SocketAddr, dont_fragment: bool) {
        let mut result = self.socket.send_retrying(data, to, dont_fragment);
        if result.is_err() {
            result = self.socket.send_retrying(data, to, dont_fragment);
        }
        if let Err(e) = result {
            log::debug!("send to {to} failed: {e}");
            self.send_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}
