//! The UDP socket of a managed context, through which the dispatch loop sends.

use crate::proto::packet::HEADER_LEN;
use crate::runtime::udp::UdpSocket;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// A managed context's socket.
pub struct ManagedIo {
    /// The bound UDP socket.
    pub socket: UdpSocket,
    /// Datagrams the socket refused to send (counted for diagnostics; the engine's
    /// retransmission covers them).
    pub send_failures: AtomicU64,
    /// The destination and header of the last path-MTU probe the socket refused with
    /// `EMSGSIZE`: the local error it queued quotes nothing, so the worker pairs it with this
    /// to tell the engine which connection's probe was too big.
    pub refused_probe: Mutex<Option<(SocketAddr, [u8; HEADER_LEN])>>,
}

impl ManagedIo {
    /// Sends one datagram the engine produced (`dont_fragment` for path-MTU probes). Called from
    /// the dispatch loop with the context's lock held. An `IP_RECVERR` error about an earlier
    /// datagram is left in the queue for the worker, which wakes on it (`POLLERR`) and feeds
    /// it to the engine; this datagram is then retried once.
    pub fn send(&self, data: &[u8], to: SocketAddr, dont_fragment: bool) {
        let mut result = self.socket.send_retrying(data, to, dont_fragment);
        if let Err(e) = &result {
            if dont_fragment && e.raw_os_error() == Some(libc::EMSGSIZE) {
                // Too big for the interface: not retried; the worker reports it to the engine.
                let mut header = [0u8; HEADER_LEN];
                let n = data.len().min(HEADER_LEN);
                header[..n].copy_from_slice(&data[..n]);
                *self.refused_probe.lock() = Some((to, header));
                return;
            }
        }
        if result.is_err() {
            result = self.socket.send_retrying(data, to, dont_fragment);
        }
        if let Err(e) = result {
            log::debug!("send to {to} failed: {e}");
            self.send_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}
