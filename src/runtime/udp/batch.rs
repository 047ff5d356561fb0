//! Batched datagram I/O: many datagrams per system call.
//!
//! - **Send**: the engine writes datagrams one after another into a [`SendBatch`]; runs of
//!   datagrams to one destination with one size (the last may be shorter) become one message
//!   with UDP generic segmentation offload (`UDP_SEGMENT`, Linux 4.18), which the kernel cuts
//!   into datagrams of that size, and the messages go out together with `sendmmsg`.
//! - **Receive**: `recvmmsg` fills the slots of a [`RecvBatch`]; with generic receive offload
//!   (`UDP_GRO`, Linux 5.0) one slot may hold several datagrams of one sender coalesced by the
//!   kernel, which [`RecvBatch::datagram`] splits again at the size the kernel reports.
//!
//! Both offloads are only an optimisation of how datagrams cross the system-call boundary: what
//! goes on the wire (and what a peer without them receives) is the same datagrams. Where the
//! kernel refuses them, the socket falls back to plain `sendmmsg` and `recvmmsg`; on systems
//! other than Linux, to one datagram per call.

use super::UdpSocket;
use socket2::SockAddr;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

/// Largest datagram the engine may write into one slot of a [`SendBatch`], and the size of a
/// receive slot: the largest UDP payload over IPv6 is 65 527 bytes, over IPv4 65 507.
pub const SLOT: usize = 65_536;
/// Bytes of datagrams a [`SendBatch`] collects before it must be sent: 128 KiB, about 90
/// full-size uTP packets (two full GSO messages). Our own choice.
const SEND_BYTES: usize = 128 << 10;
/// Most datagrams in a [`SendBatch`], and messages per `sendmmsg`.
const SEND_DATAGRAMS: usize = 128;
/// Most segments in one GSO message: the kernel's `UDP_MAX_SEGMENTS` (64 until Linux 6.9).
const MAX_SEGMENTS: usize = 64;
/// Most bytes in one GSO message: the largest UDP payload over IPv4.
const MAX_GSO_BYTES: usize = 65_507;
/// Receive slots per `recvmmsg`: with 1,400-byte datagrams and no coalescing, at most one system
/// call per 32 datagrams. Our own choice.
pub const RECV_SLOTS: usize = 32;

/// `UDP_SEGMENT` and `UDP_GRO` (include/uapi/linux/udp.h), at level `SOL_UDP` (17).
#[cfg(target_os = "linux")]
const UDP_SEGMENT: libc::c_int = 103;
#[cfg(target_os = "linux")]
const UDP_GRO: libc::c_int = 104;

/// One datagram of a [`SendBatch`].
#[derive(Debug, Clone, Copy)]
struct Queued {
    start: usize,
    len: usize,
    to: SocketAddr,
}

/// Datagrams waiting to be sent together, in one buffer.
#[derive(Debug)]
pub struct SendBatch {
    buf: Vec<u8>,
    used: usize,
    queued: Vec<Queued>,
}

/// An empty batch allocates nothing (so that `mem::take` costs nothing); its buffer comes with
/// the first datagram.
impl Default for SendBatch {
    fn default() -> Self {
        SendBatch {
            buf: Vec::new(),
            used: 0,
            queued: Vec::new(),
        }
    }
}

impl SendBatch {
    /// Room for the next datagram ([`SLOT`] bytes), or `None` when the batch is full and must
    /// be sent first.
    pub fn room(&mut self) -> Option<&mut [u8]> {
        if self.used > SEND_BYTES || self.queued.len() >= SEND_DATAGRAMS {
            return None;
        }
        if self.buf.is_empty() {
            // Zeroed memory comes from the system untouched: pages cost nothing until written.
            self.buf = vec![0; SEND_BYTES + SLOT];
            self.queued.reserve(SEND_DATAGRAMS);
        }
        Some(&mut self.buf[self.used..self.used + SLOT])
    }

    /// Adds the `len` bytes just written at the front of [`room`](Self::room), for `to`.
    pub fn push(&mut self, len: usize, to: SocketAddr) {
        let len = len.min(SLOT);
        self.queued.push(Queued {
            start: self.used,
            len,
            to,
        });
        self.used += len;
    }

    /// The datagram just written at the front of [`room`](Self::room) (`len` bytes), without
    /// adding it: for one that must go out on its own.
    pub fn unpushed(&self, len: usize) -> &[u8] {
        &self.buf[self.used..self.used + len.min(SLOT)]
    }

    /// Number of datagrams queued.
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Datagram `i`: its bytes and destination.
    pub fn datagram(&self, i: usize) -> (&[u8], SocketAddr) {
        let q = self.queued[i];
        (&self.buf[q.start..q.start + q.len], q.to)
    }

    /// Forgets every datagram.
    pub fn clear(&mut self) {
        self.used = 0;
        self.queued.clear();
    }

    /// The datagrams from `first` on that one GSO message may carry: same destination, the
    /// size of the first (the last may be shorter), within the kernel's limits. At least 1.
    pub fn run_from(&self, first: usize) -> usize {
        let head = self.queued[first];
        let mut count = 1;
        let mut bytes = head.len;
        let mut last_len = head.len;
        for q in &self.queued[first + 1..] {
            let fits = q.to == head.to
                && last_len == head.len
                && q.len <= head.len
                && q.len > 0
                && count < MAX_SEGMENTS
                && bytes + q.len <= MAX_GSO_BYTES;
            if !fits {
                break;
            }
            count += 1;
            bytes += q.len;
            last_len = q.len;
        }
        count
    }
}

/// Datagrams received by one [`UdpSocket::recv_batch`].
#[derive(Debug)]
pub struct RecvBatch {
    buf: Vec<u8>,
    /// Per slot: bytes received, the sender, the coalesced datagrams' size (0: one datagram).
    got: Vec<(usize, SocketAddr, usize)>,
}

/// An empty batch allocates nothing (so that `mem::take` costs nothing); its buffer comes with
/// the first receive.
impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            buf: Vec::new(),
            got: Vec::new(),
        }
    }
}

impl RecvBatch {
    /// Number of slots filled by the last receive.
    pub fn slots(&self) -> usize {
        self.got.len()
    }

    /// The datagrams of slot `i`, in order, with their sender.
    pub fn datagrams(&self, i: usize) -> (std::slice::Chunks<'_, u8>, SocketAddr) {
        let (len, from, segment) = self.got[i];
        let data = &self.buf[i * SLOT..i * SLOT + len];
        let size = if segment == 0 { len.max(1) } else { segment };
        (data.chunks(size), from)
    }
}

/// What [`UdpSocket::receive_up_to`] read.
pub enum Received<'a> {
    /// One received message: its datagrams, in order, and their sender.
    Message(std::slice::Chunks<'a, u8>, SocketAddr),
    /// A receive error.
    Error(io::Error),
}

impl UdpSocket {
    /// Asks the kernel to coalesce received datagrams (`UDP_GRO`); false where it refuses.
    pub(super) fn enable_gro(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            super::sys::set_int_option(self.socket.as_raw_fd(), libc::SOL_UDP, UDP_GRO, 1).is_ok()
        }
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// Sends datagrams `first..` of `batch` with as few system calls as the kernel allows:
    /// returns how many went out (at least one), or the error of datagram `first`, which was
    /// not sent (with the meaning [`send_to`](Self::send_to)'s errors have). Plain sends only
    /// (no DF).
    pub fn send_batch(&self, batch: &SendBatch, first: usize) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        {
            self.sendmmsg(batch, first)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let (data, to) = batch.datagram(first);
            self.send_to(data, to).map(|_| 1)
        }
    }

    /// Sends every datagram of `batch`, in order, and empties it: as few system calls as the
    /// kernel allows, and through `one` each datagram the batch cannot send or that must queue
    /// behind held ones (`one` holds it when the kernel has no room and handles ICMP errors, as
    /// a single send does).
    pub fn send_all(&self, batch: &mut SendBatch, mut one: impl FnMut(&[u8], SocketAddr)) {
        let mut i = 0;
        while i < batch.len() {
            if !self.has_held() {
                if let Ok(n) = self.send_batch(batch, i) {
                    i += n;
                    continue;
                }
            }
            let (data, to) = batch.datagram(i);
            one(data, to);
            i += 1;
        }
        batch.clear();
    }

    #[cfg(target_os = "linux")]
    fn sendmmsg(&self, batch: &SendBatch, first: usize) -> io::Result<usize> {
        use std::mem::{size_of, zeroed};
        use std::os::fd::AsRawFd;
        const N: usize = 64;
        let gso = self.gso.load(Ordering::Relaxed);
        // Per message: the run of datagrams it carries, its address and its control buffer.
        let mut runs = [(0usize, 0usize); N];
        // SAFETY: these are plain integers and null pointers, valid all-zero.
        let mut names: [libc::sockaddr_storage; N] = unsafe { zeroed() };
        let mut name_lens = [0 as libc::socklen_t; N];
        let mut controls = [[0u64; 3]; N];
        // SAFETY: as above.
        let mut iovs: [libc::iovec; N] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; N] = unsafe { zeroed() };
        let mut count = 0;
        let mut next = first;
        while next < batch.len() && count < N {
            let run = if gso { batch.run_from(next) } else { 1 };
            let (head, to) = batch.datagram(next);
            let addr = SockAddr::from(to);
            let bytes: usize = (next..next + run).map(|i| batch.datagram(i).0.len()).sum();
            // SAFETY: `addr` holds `addr.len()` bytes, at most a `sockaddr_storage`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    addr.as_ptr().cast::<u8>(),
                    std::ptr::addr_of_mut!(names[count]).cast::<u8>(),
                    addr.len() as usize,
                )
            };
            name_lens[count] = addr.len();
            iovs[count] = libc::iovec {
                iov_base: head.as_ptr() as *mut libc::c_void,
                iov_len: bytes,
            };
            runs[count] = (run, head.len());
            next += run;
            count += 1;
        }
        for i in 0..count {
            let m = &mut msgs[i].msg_hdr;
            m.msg_name = std::ptr::addr_of_mut!(names[i]).cast();
            m.msg_namelen = name_lens[i];
            m.msg_iov = std::ptr::addr_of_mut!(iovs[i]);
            m.msg_iovlen = 1;
            if runs[i].0 > 1 {
                m.msg_control = controls[i].as_mut_ptr().cast();
                // SAFETY: CMSG_SPACE is arithmetic.
                m.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as _;
                // SAFETY: the control buffer (24 bytes, u64-aligned) holds one header and a u16,
                // as CMSG_SPACE just computed; CMSG_FIRSTHDR points at its start.
                unsafe {
                    let c = libc::CMSG_FIRSTHDR(m);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), runs[i].1 as u16);
                }
            }
        }
        let _plain = self.pmtu_mode.read();
        loop {
            // SAFETY: `msgs[..count]` point at live names, iovecs (into `batch`, borrowed for
            // the call) and control buffers of the sizes given; the kernel reads them and
            // writes only `msg_len`.
            let n = unsafe {
                libc::sendmmsg(
                    self.socket.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    count as libc::c_uint,
                    0,
                )
            };
            if n > 0 {
                return Ok(runs[..n as usize].iter().map(|r| r.0).sum());
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            let refused_gso = runs[0].0 > 1
                && matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL | libc::EIO | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
                );
            if refused_gso {
                // The kernel or the route refuses segmentation offload (EIO: a device without
                // checksum offload; EINVAL: a segment above the path MTU, or an old kernel):
                // plain messages from now on.
                log::debug!(target: "utp::udp", "UDP GSO refused ({e}); sending without it");
                self.gso.store(false, Ordering::Relaxed);
                return self.sendmmsg(batch, first);
            }
            return Err(e);
        }
    }

    /// Reads what is queued, [`recv_batch`](Self::recv_batch) after `recv_batch`, until about
    /// `limit` datagrams were read or none is left, handing each message to `on` as
    /// [`Received::Message`] (its datagrams: more than one where the kernel coalesced them) and
    /// each receive error other than `WouldBlock` and `EINTR` as [`Received::Error`] (an ICMP
    /// error about an earlier datagram, with `IP_RECVERR`: drain the error queue, reading goes
    /// on). Bounded: a message counts its datagrams, and a dropped (truncated) message and an
    /// error count one each.
    pub fn receive_up_to(
        &self,
        batch: &mut RecvBatch,
        limit: usize,
        mut on: impl FnMut(Received<'_>),
    ) {
        let mut received = 0;
        while received < limit {
            match self.recv_batch(batch) {
                Ok(0) => break,
                Ok(slots) => {
                    for slot in 0..slots {
                        let (datagrams, from) = batch.datagrams(slot);
                        received += datagrams.len().max(1);
                        on(Received::Message(datagrams, from));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    received += 1;
                    on(Received::Error(e));
                }
            }
        }
    }

    /// Receives up to [`RECV_SLOTS`] messages into `batch` without blocking; the number of
    /// slots filled, `WouldBlock` when none was queued. Other errors as
    /// [`recv_from`](Self::recv_from).
    pub fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.got.clear();
        if batch.buf.is_empty() {
            // Zeroed memory comes from the system untouched: pages cost nothing until written.
            batch.buf = vec![0; RECV_SLOTS * SLOT];
            batch.got.reserve(RECV_SLOTS);
        }
        #[cfg(target_os = "linux")]
        {
            self.recvmmsg(batch)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let (n, from) = self.recv_from(&mut batch.buf[..SLOT])?;
            batch.got.push((n, from, 0));
            Ok(1)
        }
    }

    #[cfg(target_os = "linux")]
    fn recvmmsg(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        use std::mem::{size_of, zeroed};
        use std::os::fd::AsRawFd;
        // SAFETY: plain integers and null pointers, valid all-zero.
        let mut names: [libc::sockaddr_storage; RECV_SLOTS] = unsafe { zeroed() };
        let mut controls = [[0u64; 8]; RECV_SLOTS];
        // SAFETY: as above.
        let mut iovs: [libc::iovec; RECV_SLOTS] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; RECV_SLOTS] = unsafe { zeroed() };
        let base = batch.buf.as_mut_ptr();
        for i in 0..RECV_SLOTS {
            iovs[i] = libc::iovec {
                // SAFETY: slot `i` lies within `batch.buf` (RECV_SLOTS * SLOT bytes).
                iov_base: unsafe { base.add(i * SLOT) }.cast(),
                iov_len: SLOT,
            };
            let m = &mut msgs[i].msg_hdr;
            m.msg_name = std::ptr::addr_of_mut!(names[i]).cast();
            m.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            m.msg_iov = std::ptr::addr_of_mut!(iovs[i]);
            m.msg_iovlen = 1;
            m.msg_control = controls[i].as_mut_ptr().cast();
            m.msg_controllen = size_of::<[u64; 8]>() as _;
        }
        let n = loop {
            // SAFETY: every message points at a live name, one iovec over its own slot of
            // `batch.buf` and a control buffer, exclusively borrowed, with their true sizes;
            // the kernel writes within them and updates the lengths.
            let n = unsafe {
                libc::recvmmsg(
                    self.socket.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    RECV_SLOTS as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        for i in 0..n {
            let m = &msgs[i].msg_hdr;
            let len = msgs[i].msg_len as usize;
            if m.msg_flags & libc::MSG_TRUNC != 0 || m.msg_namelen == 0 {
                // Larger than any datagram we accept, or no sender: dropped.
                batch.got.push((0, SocketAddr::from(([0, 0, 0, 0], 0)), 0));
                continue;
            }
            // SAFETY: recvmmsg wrote an address of `msg_namelen` bytes (at most the storage's
            // size, which it was told) into `names[i]`, whose other bytes are zero.
            let from = unsafe { SockAddr::new(names[i], m.msg_namelen) }.as_socket();
            let Some(from) = from else {
                batch.got.push((0, SocketAddr::from(([0, 0, 0, 0], 0)), 0));
                continue;
            };
            batch.got.push((len, from, gro_segment(m)));
        }
        Ok(n)
    }
}

/// The `UDP_GRO` control message of a received message: the size of the datagrams coalesced
/// into it, or 0.
#[cfg(target_os = "linux")]
fn gro_segment(msg: &libc::msghdr) -> usize {
    let mut segment = 0;
    // SAFETY: `msg` describes its control buffer, `msg_controllen` bytes of it written by the
    // kernel; CMSG_FIRSTHDR/CMSG_NXTHDR return null or headers within it.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !c.is_null() {
        // SAFETY: a non-null header lies within the control buffer and was written by the
        // kernel; an `int` follows a UDP_GRO header (read unaligned, it is plain bytes).
        unsafe {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                segment = usize::try_from(v).unwrap_or(0);
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    segment
}

#[cfg(test)]
mod tests {
    use super::super::UdpOptions;
    use super::*;
    use std::time::{Duration, Instant};

    fn to(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn batch_of(sizes: &[(usize, u16)]) -> SendBatch {
        let mut b = SendBatch::default();
        for (k, &(len, port)) in sizes.iter().enumerate() {
            let room = b.room().expect("room");
            for (i, byte) in room[..len].iter_mut().enumerate() {
                *byte = (k * 31 + i) as u8;
            }
            b.push(len, to(port));
        }
        b
    }

    #[test]
    fn runs_join_same_size_datagrams_to_one_peer_and_end_after_a_shorter_one() {
        let b = batch_of(&[
            (1000, 1),
            (1000, 1),
            (1000, 1),
            (300, 1),
            (1000, 1),
            (1000, 2),
        ]);
        assert_eq!(
            b.run_from(0),
            4,
            "three full datagrams and a shorter last one"
        );
        assert_eq!(
            b.run_from(3),
            1,
            "a short datagram cannot start a run of larger ones"
        );
        assert_eq!(b.run_from(4), 1, "another destination ends the run");
        let b = batch_of(&[(500, 1), (900, 1)]);
        assert_eq!(b.run_from(0), 1, "a larger datagram cannot follow");
    }

    #[test]
    fn runs_stay_within_the_kernels_segment_and_byte_limits() {
        let b = batch_of(&vec![(100, 1); 100]);
        assert_eq!(b.run_from(0), MAX_SEGMENTS);
        let b = batch_of(&vec![(1400, 1); 60]);
        assert_eq!(b.run_from(0), MAX_GSO_BYTES / 1400);
    }

    #[test]
    fn a_full_batch_asks_to_be_sent_first() {
        let mut b = batch_of(&vec![(1400, 1); 94]);
        assert!(b.room().is_none(), "{} bytes queued", b.used);
        b.clear();
        assert!(b.room().is_some());
        assert!(b.is_empty());
    }

    /// Receives until `want` datagrams arrived or 5 s passed.
    #[allow(clippy::disallowed_methods)] // A test over real sockets waits on wall-clock time.
    fn receive(socket: &UdpSocket, want: usize) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut got = Vec::new();
        let mut rx = RecvBatch::default();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < want && Instant::now() < deadline {
            match socket.recv_batch(&mut rx) {
                Ok(slots) => {
                    for slot in 0..slots {
                        let (datagrams, from) = rx.datagrams(slot);
                        got.extend(datagrams.map(|d| (d.to_vec(), from)));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("receive: {e}"),
            }
        }
        got
    }

    /// Sends a batch of runs to two receivers and checks that each gets every datagram, whole
    /// and in order, whatever the offloads of the three sockets.
    fn round_trip(sender_offload: bool, receiver_offload: bool) {
        let options = |offload| UdpOptions {
            offload,
            ..UdpOptions::default()
        };
        let local = to(0);
        let sender = UdpSocket::bind(local, &options(sender_offload)).unwrap();
        let r1 = UdpSocket::bind(local, &options(receiver_offload)).unwrap();
        let r2 = UdpSocket::bind(local, &options(false)).unwrap();
        let (p1, p2) = (
            r1.local_addr().unwrap().port(),
            r2.local_addr().unwrap().port(),
        );
        let plan = [
            (1400, p1),
            (1400, p1),
            (1400, p1),
            (1400, p1),
            (700, p1),
            (1400, p2),
            (1400, p2),
            (1200, p1),
            (1200, p1),
            (20, p2),
        ];
        let batch = batch_of(&plan);
        let mut sent = 0;
        while sent < batch.len() {
            sent += sender.send_batch(&batch, sent).unwrap();
        }
        assert_eq!(sent, plan.len());
        let expect = |port: u16| -> Vec<Vec<u8>> {
            (0..batch.len())
                .filter(|&i| batch.datagram(i).1.port() == port)
                .map(|i| batch.datagram(i).0.to_vec())
                .collect()
        };
        let from = sender.local_addr().unwrap();
        for (socket, port) in [(&r1, p1), (&r2, p2)] {
            let want = expect(port);
            let got = receive(socket, want.len());
            assert!(got.iter().all(|(_, f)| *f == from));
            let got: Vec<Vec<u8>> = got.into_iter().map(|(d, _)| d).collect();
            assert_eq!(got, want, "datagrams at port {port}");
        }
    }

    #[test]
    fn batches_arrive_as_the_same_datagrams_with_offload() {
        round_trip(true, true);
    }

    #[test]
    fn batches_arrive_as_the_same_datagrams_at_a_receiver_without_offload() {
        round_trip(true, false);
    }

    #[test]
    fn batches_arrive_as_the_same_datagrams_without_offload() {
        round_trip(false, true);
        round_trip(false, false);
    }
}
