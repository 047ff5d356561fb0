//! The UDP socket of a managed context, through which the dispatch loop sends.

use crate::proto::packet::HEADER_LEN;
use crate::runtime::udp::{SendBatch, UdpSocket};
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
    /// Datagrams of the running dispatch, sent together when it ends ([`ManagedIo::flush`]).
    pub out: Mutex<SendBatch>,
}

impl ManagedIo {
    /// A managed context's I/O over `socket`.
    pub fn new(socket: UdpSocket) -> Self {
        ManagedIo {
            socket,
            send_failures: AtomicU64::new(0),
            refused_probe: Mutex::new(None),
            out: Mutex::new(SendBatch::default()),
        }
    }

    /// Sends the queued datagrams, as few system calls as the kernel allows.
    pub fn flush(&self) {
        let mut out = self.out.lock();
        if !out.is_empty() {
            self.send_batch(&mut out);
        }
    }

    /// Sends and empties `out` (the dispatch loop's batch, when full); a datagram the batch cannot send goes through
    /// [`ManagedIo::send`] (held when the kernel has no room, retried after an ICMP error), and
    /// while datagrams are held the rest queue behind them.
    pub fn send_batch(&self, out: &mut SendBatch) {
        self.socket
            .send_all(out, |data, to| self.send(data, to, false));
    }

    /// Sends one datagram the engine produced (`dont_fragment` for path-MTU probes). Called from
    /// the dispatch loop with the context's lock held. A datagram the kernel has no room for is
    /// held and sent by the worker's next [`ManagedIo::flush_held`] (a local shortage is not
    /// network loss). An `IP_RECVERR` error about an earlier datagram is left in the queue for
    /// the worker, which wakes on it (`POLLERR`) and feeds it to the engine; this datagram is
    /// then retried once.
    pub fn send(&self, data: &[u8], to: SocketAddr, dont_fragment: bool) {
        let mut result = self.socket.send_or_hold(data, to, dont_fragment);
        if let Err(e) = &result {
            if dont_fragment && e.raw_os_error() == Some(libc::EMSGSIZE) {
                self.refuse_probe(data, to);
                return;
            }
        }
        if result.is_err() {
            result = self.socket.send_or_hold(data, to, dont_fragment);
        }
        if let Err(e) = result {
            log::debug!("send to {to} failed: {e}");
            self.send_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends held datagrams the kernel now has room for (called by the worker on every drive).
    pub fn flush_held(&self) {
        for (to, dont_fragment, data, e) in self.socket.flush_held() {
            if dont_fragment && e.raw_os_error() == Some(libc::EMSGSIZE) {
                self.refuse_probe(&data, to);
            } else {
                log::debug!("held datagram to {to} failed: {e}");
                self.send_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Too big for the interface: not retried; the worker reports it to the engine.
    fn refuse_probe(&self, data: &[u8], to: SocketAddr) {
        let mut header = [0u8; HEADER_LEN];
        let n = data.len().min(HEADER_LEN);
        header[..n].copy_from_slice(&data[..n]);
        *self.refused_probe.lock() = Some((to, header));
    }
}
