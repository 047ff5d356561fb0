//! Datagrams the kernel had no room for.
//!
//! A send that fails with `EAGAIN`/`EWOULDBLOCK` (socket send buffer full) or `ENOBUFS` (no
//! memory for the packet, or a full device queue) is a local condition, not network loss: the
//! datagram is kept here, in order, and later sends queue behind it until the socket takes them
//! again, so the engine never retransmits it or cuts its window for it. The worker retries the
//! queue on every drive and comes back after [`HELD_RETRY`] while anything is held.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Most datagrams held (about 1.4 MiB of full packets): beyond that the socket has been
/// refusing sends for long enough that the engine's loss recovery is the better answer, and
/// newer datagrams are dropped (counted by the caller). Our own choice.
pub const MAX_HELD: usize = 1024;

/// How soon a worker retries held datagrams: 1 ms (a full loopback socket buffer drains in
/// well under that; the kernel does not report writability for UDP sockets reliably enough to
/// wait for it instead). Our own choice.
pub const HELD_RETRY: Duration = Duration::from_millis(1);

/// One datagram waiting for room.
#[derive(Debug)]
struct Held {
    data: Vec<u8>,
    to: SocketAddr,
    dont_fragment: bool,
}

/// The queue of held datagrams of one socket.
#[derive(Debug, Default)]
pub struct HeldSends {
    queue: Mutex<VecDeque<Held>>,
    /// Mirrors `!queue.is_empty()`, for a check without the lock.
    any: AtomicBool,
}

/// Whether `e` says the kernel had no room for the datagram right now.
pub fn is_local_shortage(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}

impl HeldSends {
    /// True when datagrams are waiting.
    pub fn any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Keeps a copy of the datagram; false when the queue is full (it is dropped).
    pub fn hold(&self, data: &[u8], to: SocketAddr, dont_fragment: bool) -> bool {
        let mut queue = self.queue.lock();
        if queue.len() >= MAX_HELD {
            return false;
        }
        queue.push_back(Held {
            data: data.to_vec(),
            to,
            dont_fragment,
        });
        self.any.store(true, Ordering::Release);
        true
    }

    /// Sends held datagrams in order with `send` until it reports a shortage again. A datagram
    /// failing for another reason is dropped and its error returned in the list (the caller
    /// treats it as it would a direct send's error). Returns those errors.
    pub fn flush(
        &self,
        mut send: impl FnMut(&[u8], SocketAddr, bool) -> io::Result<()>,
    ) -> Vec<(SocketAddr, bool, Vec<u8>, io::Error)> {
        let mut failed = Vec::new();
        if !self.any() {
            return failed;
        }
        let mut queue = self.queue.lock();
        while let Some(front) = queue.front() {
            match send(&front.data, front.to, front.dont_fragment) {
                Ok(()) => {
                    queue.pop_front();
                }
                Err(e) if is_local_shortage(&e) => break,
                Err(e) => {
                    if let Some(h) = queue.pop_front() {
                        failed.push((h.to, h.dont_fragment, h.data, e));
                    }
                }
            }
        }
        self.any.store(!queue.is_empty(), Ordering::Release);
        failed
    }

    /// Number of datagrams waiting.
    pub fn len(&self) -> usize {
        self.queue.lock().len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        !self.any()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    #[test]
    fn held_datagrams_go_out_in_order_once_there_is_room() {
        let held = HeldSends::default();
        assert!(held.is_empty());
        for i in 0..3u8 {
            assert!(held.hold(&[i], addr(), false));
        }
        assert_eq!(held.len(), 3);
        // The kernel takes one, then is full again.
        let mut sent = Vec::new();
        let mut room = 1;
        let failed = held.flush(|d, _, _| {
            if room == 0 {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            room -= 1;
            sent.push(d[0]);
            Ok(())
        });
        assert!(failed.is_empty());
        assert_eq!(sent, [0]);
        assert!(held.any());
        // ENOBUFS is a shortage too; then room for the rest.
        let failed = held.flush(|_, _, _| Err(io::Error::from_raw_os_error(libc::ENOBUFS)));
        assert!(failed.is_empty());
        assert_eq!(held.len(), 2);
        let failed = held.flush(|d, _, _| {
            sent.push(d[0]);
            Ok(())
        });
        assert!(failed.is_empty());
        assert_eq!(sent, [0, 1, 2]);
        assert!(held.is_empty());
    }

    #[test]
    fn other_errors_drop_the_datagram_and_are_reported_and_the_queue_is_bounded() {
        let held = HeldSends::default();
        for _ in 0..MAX_HELD {
            assert!(held.hold(b"x", addr(), true));
        }
        assert!(!held.hold(b"y", addr(), false), "full: dropped");
        let mut first = true;
        let failed = held.flush(|_, _, _| {
            if std::mem::take(&mut first) {
                Err(io::Error::from_raw_os_error(libc::EMSGSIZE))
            } else {
                Ok(())
            }
        });
        assert_eq!(failed.len(), 1);
        assert!(failed[0].1, "the probe flag is kept");
        assert_eq!(failed[0].3.raw_os_error(), Some(libc::EMSGSIZE));
        assert!(held.is_empty());
    }
}
