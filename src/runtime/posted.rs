//! Reads straight into a blocked reader's buffer.
//!
//! A thread blocked in [`UtpStream::read`](crate::stream::UtpStream) lends its buffer to the driver
//! ([`State::post_read`]) before it waits. While the buffer is posted, the driver hands the
//! engine's in-place payloads (the next bytes of the stream, with nothing buffered before them:
//! [`Endpoint::handle_datagram_in_place`](crate::proto::Endpoint::handle_datagram_in_place))
//! to it directly, copying each payload once, from the received datagram into the reader's
//! memory, instead of into the connection's receive buffer and from there into the reader's
//! buffer on the reader's thread. The reader takes its buffer back ([`State::take_posted`])
//! under the same lock acquisition that tells it how much arrived.
//!
//! Soundness rests on three rules, each kept by the code that touches `PostedRead`:
//! * the pointer and capacity come from a `&mut [u8]` the reading thread holds for the whole
//!   time the buffer is posted, and it does not touch the buffer in that time (it is waiting
//!   on the condition variable);
//! * the driver writes into it only with the state lock held, and the reader reads what was
//!   written only after taking the lock again (the lock orders the two);
//! * the reader takes the buffer back, under the lock, on every path out of its read before
//!   the borrow ends, and nothing between posting and taking back can unwind.

use super::driver::{ConnState, State};
use crate::proto::{ConnectionHandle, HandleMap};

/// A reader's buffer lent to the driver.
#[derive(Debug, Clone, Copy)]
pub struct PostedRead {
    ptr: *mut u8,
    cap: usize,
    filled: usize,
}

// SAFETY: the pointer is only dereferenced by the driver with the state lock held, within the
// reader's exclusive borrow of the buffer (module documentation); moving the record between
// threads does not touch the memory.
unsafe impl Send for PostedRead {}

impl PostedRead {
    /// Bytes still free in the buffer.
    pub fn room(&self) -> usize {
        self.cap - self.filled
    }
}

/// Whether connection `h` of `conns` has a posted buffer with room for `len` more bytes.
pub fn has_room(conns: &HandleMap<ConnState>, h: ConnectionHandle, len: usize) -> bool {
    conns
        .get(&h)
        .and_then(|c| c.posted.as_ref())
        .is_some_and(|p| p.room() >= len)
}

impl State {
    /// Lends `buf` to the driver for connection `h` while the reader waits. Returns false (and
    /// posts nothing) when the connection is unknown or another reader of it has a buffer
    /// posted already.
    ///
    /// The caller must call [`State::take_posted`] under this same lock before the borrow of
    /// `buf` ends, on every path, and must not touch `buf` in between.
    pub fn post_read(&mut self, h: ConnectionHandle, buf: &mut [u8]) -> bool {
        let Some(c) = self.conns.get_mut(&h) else {
            return false;
        };
        if c.posted.is_some() {
            return false;
        }
        c.posted = Some(PostedRead {
            ptr: buf.as_mut_ptr(),
            cap: buf.len(),
            filled: 0,
        });
        true
    }

    /// Takes the buffer posted for `h` back: how many bytes the driver wrote at its start.
    pub fn take_posted(&mut self, h: ConnectionHandle) -> usize {
        self.conns
            .get_mut(&h)
            .and_then(|c| c.posted.take())
            .map_or(0, |p| p.filled)
    }

    /// Copies `payload` (an in-place delivery for `h`) to the end of what its posted buffer
    /// holds. Returns false, copying nothing, when there is no posted buffer with room.
    pub fn fill_posted(&mut self, h: ConnectionHandle, payload: &[u8]) -> bool {
        let Some(p) = self.conns.get_mut(&h).and_then(|c| c.posted.as_mut()) else {
            return false;
        };
        if p.room() < payload.len() {
            return false;
        }
        // SAFETY: `p` describes a buffer its reader holds exclusively and does not touch while
        // posted, valid for `cap` bytes (module documentation); `filled + len <= cap` was just
        // checked; the source is a received datagram, which cannot overlap the reader's buffer.
        unsafe {
            core::ptr::copy_nonoverlapping(payload.as_ptr(), p.ptr.add(p.filled), payload.len());
        }
        p.filled += payload.len();
        self.posted_bytes += payload.len() as u64;
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::stream::{UtpSocket, UtpStream};
    use std::io::{self, Read, Write};
    use std::net::SocketAddr;
    use std::thread;
    use std::time::Duration;

    /// Byte `i` of the test stream.
    fn byte(i: usize) -> u8 {
        (i.wrapping_mul(131) ^ (i >> 9)) as u8
    }

    /// A connected pair on 127.0.0.1: (server socket, client socket, client end, server end).
    fn pair() -> (UtpSocket, UtpSocket, UtpStream, UtpStream) {
        let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let server = UtpSocket::bind(any).expect("bind");
        let client = UtpSocket::bind(any).expect("bind");
        let c = client
            .connect(server.local_addr().expect("address"))
            .expect("connect");
        let (s, _) = server.accept().expect("accept");
        (server, client, c, s)
    }

    fn posted_bytes(s: &UtpStream) -> u64 {
        s.parts().0.state.lock().posted_bytes
    }

    /// Writes `len` bytes of the test stream from `at`, in pieces with pauses (so that the
    /// reader keeps running dry and blocks).
    fn write_slowly(mut w: &UtpStream, at: usize, len: usize) {
        for start in (at..at + len).step_by(20_000) {
            let end = (start + 20_000).min(at + len);
            let piece: Vec<u8> = (start..end).map(byte).collect();
            w.write_all(&piece).expect("write");
            thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn a_blocked_reader_gets_payloads_in_its_own_buffer_in_order() {
        let (_server, _client, c, s) = pair();
        const TOTAL: usize = 1 << 20;
        let writer = thread::spawn(move || {
            write_slowly(&c, 0, TOTAL);
            c.finish().expect("finish");
        });
        let mut got = Vec::with_capacity(TOTAL);
        let mut buf = vec![0u8; 65_536];
        loop {
            let n = (&s).read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        writer.join().expect("writer");
        assert_eq!(got.len(), TOTAL);
        assert!(
            got.iter().enumerate().all(|(i, &b)| b == byte(i)),
            "bytes differ"
        );
        assert!(
            posted_bytes(&s) > 0,
            "no payload went into the posted buffer"
        );
    }

    #[test]
    fn two_readers_of_one_stream_share_it_without_loss() {
        let (_server, _client, c, s) = pair();
        const TOTAL: usize = 1 << 20;
        let writer = thread::spawn(move || {
            write_slowly(&c, 0, TOTAL);
            c.finish().expect("finish");
        });
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let s = s.try_clone().expect("clone");
                thread::spawn(move || {
                    let mut total = 0usize;
                    let mut buf = vec![0u8; 65_536];
                    loop {
                        match (&s).read(&mut buf) {
                            Ok(0) => return total,
                            Ok(n) => total += n,
                            Err(e) => panic!("read: {e}"),
                        }
                    }
                })
            })
            .collect();
        let total: usize = readers.into_iter().map(|r| r.join().expect("reader")).sum();
        writer.join().expect("writer");
        assert_eq!(total, TOTAL, "every byte read exactly once");
    }

    #[test]
    fn a_read_that_times_out_keeps_no_posted_buffer_and_loses_nothing() {
        let (_server, _client, c, s) = pair();
        s.set_read_timeout(Some(Duration::from_millis(30)))
            .expect("timeout");
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_536];
        for round in 0..3 {
            // Nothing sent: the read times out, its buffer taken back.
            let e = (&s).read(&mut buf).expect_err("nothing to read");
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
            let (shared, h) = s.parts();
            assert!(shared
                .state
                .lock()
                .conns
                .get(&h)
                .is_some_and(|c| c.posted.is_none()));
            write_slowly(&c, round * 50_000, 50_000);
            while got.len() < (round + 1) * 50_000 {
                let n = (&s).read(&mut buf).expect("read");
                got.extend_from_slice(&buf[..n]);
            }
        }
        assert!(
            got.iter().enumerate().all(|(i, &b)| b == byte(i)),
            "bytes differ"
        );
    }
}
