//! The runtime's UDP socket, made with socket2: non-blocking, IPv4 or IPv6 (dual-stack on
//! request), with socket buffers large enough for a full window burst.
//!
//! Buffer sizes matter more than anything else on loopback (shared/peers.md): with the default
//! 208 KiB receive buffer, one 1 MiB window burst overflows it and every loss costs a timeout.
//!
//! # ICMP errors (Linux)
//!
//! Sockets are bound with `IP_RECVERR` (IPv4) or `IPV6_RECVERR` and `IP_RECVERR` (IPv6, so
//! that the IPv4 side of a dual-stack socket reports too): the kernel keeps each ICMP error
//! about a datagram we sent on the socket's error queue, and [`UdpSocket::recv_error`] reads
//! them, for the endpoint's `handle_icmp_error` and `handle_icmp_fragmentation` (libutp's
//! `utp_process_icmp_error` and `utp_process_icmp_fragmentation`).
//!
//! `IP_RECVERR` has two side effects a driver must handle (ip(7), "IP_RECVERR"):
//!
//! - An ICMP error also becomes the socket's *pending error*, which the next
//!   [`recv_from`](UdpSocket::recv_from), [`send_to`](UdpSocket::send_to) or
//!   [`send_to_dont_fragment`](UdpSocket::send_to_dont_fragment) returns once (as
//!   `ECONNREFUSED`, `EHOSTUNREACH`, `ENETUNREACH`, `EMSGSIZE`, ...) *instead of doing its work*:
//!   nothing is received, the datagram is not sent. So: an error other than `WouldBlock` or
//!   `Interrupted` from any of them means "drain [`recv_error`](UdpSocket::recv_error) until
//!   `Ok(None)`, then retry the call". Draining clears the pending error. A send that fails
//!   again with the same error failed because of its own datagram.
//! - `poll`/`epoll` report `POLLERR`/`EPOLLERR` (always, whatever events were asked for, and
//!   level-triggered) while the error queue is not empty or an error is pending: a driver
//!   waiting on the descriptor must drain the queue when it sees it, or it will spin.
//!
//! # Don't fragment (Linux)
//!
//! Plain sends may be fragmented; [`UdpSocket::send_to_dont_fragment`] sends a path-MTU probe
//! (libutp's `UTP_UDP_DONTFRAG`) unfragmented. libutp's MTU search needs both kinds of
//! datagram on one socket: only the first transmission of a probe is DF, and a lost probe is
//! retransmitted without DF so that it gets through fragmented. Keeping DF on every datagram
//! (`IP_PMTUDISC_PROBE` for good) would make such a retransmission fail again forever on a path
//! whose MTU is below it; hence a plain mode per socket and a probe mode switched on around
//! each DF send (as libtorrent does around its own DF sends):
//!
//! | destination on the wire | plain sends | DF sends |
//! |---|---|---|
//! | IPv4 (also IPv4-mapped on a dual-stack socket) | `IP_PMTUDISC_DONT`: no DF bit, fragmented by the kernel or by routers as needed | `IP_PMTUDISC_PROBE`: DF bit set, the cached path MTU ignored, `EMSGSIZE` above the interface MTU |
//! | IPv6 | `IPV6_PMTUDISC_WANT` (the kernel's default): fragmented by the kernel to the known path MTU (routers never fragment IPv6) | `IPV6_PMTUDISC_PROBE`: never fragmented, the cached path MTU ignored, `EMSGSIZE` above the interface MTU |
//!
//! The cost of a DF send is two extra `setsockopt` calls, and plain sends take a shared lock
//! (an uncontended atomic) so that none goes out in probe mode while another thread probes.
//! Probes are rare (a handful per connection), plain sends are everything else.
//!
//! A consequence of `IP_PMTUDISC_DONT` the driver should know: Linux drops an IPv4
//! "fragmentation needed" for a socket in that mode (`__udp4_lib_err` checks the mode when the
//! ICMP arrives, by which time a probe's send has switched it back), so over IPv4
//! [`IcmpKind::FragmentationNeeded`] comes only from the local `EMSGSIZE` check, and a probe that
//! a router refused shows up as a lost probe, which is what libutp's MTU search keys on anyway.
//! Over IPv6 "packet too big" is always reported.
//!
//! On other systems the error queue is always empty and DF sends fail with `Unsupported`.

mod batch;

pub use super::held::HELD_RETRY;
use super::held::{is_local_shortage, HeldSends};
pub use batch::{Received, RecvBatch, SendBatch, RECV_SLOTS, SLOT};
use parking_lot::RwLock;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::AtomicBool;

/// How to set up a runtime socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpOptions {
    /// `SO_RCVBUF` to ask for (the kernel caps it at `net.core.rmem_max`); 0 leaves the
    /// operating system's default (`net.core.rmem_default` on Linux). Default 4 MiB.
    pub recv_buffer: usize,
    /// `SO_SNDBUF` to ask for; 0 leaves the operating system's default. Default 4 MiB.
    pub send_buffer: usize,
    /// For an IPv6 socket: `Some(false)` accepts IPv4 too (dual stack), `Some(true)` only
    /// IPv6, `None` leaves the system default.
    pub only_v6: Option<bool>,
    /// UDP segmentation offload on send (`UDP_SEGMENT`: one system call carries a run of
    /// same-size datagrams to one peer) and receive offload (`UDP_GRO`), where the kernel
    /// offers them (Linux 4.18 and 5.0; the socket falls back by itself when refused).
    /// Default true. The datagrams on the wire are the same either way.
    pub offload: bool,
}

impl Default for UdpOptions {
    fn default() -> Self {
        UdpOptions {
            recv_buffer: 4 << 20,
            send_buffer: 4 << 20,
            only_v6: None,
            offload: true,
        }
    }
}

/// What an ICMP error said about a datagram we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpKind {
    /// The destination cannot be reached: an ICMP "destination unreachable" with any code but
    /// "fragmentation needed" (port, host, network or protocol unreachable, administratively
    /// prohibited, ...: RFC 792, RFC 1812 section 5.2.7.1), or an ICMPv6 "destination
    /// unreachable" with any code (RFC 4443 section 3.1). Like libutp, the endpoint fails the
    /// connection.
    Unreachable,
    /// The datagram was too big for the path: an ICMP "fragmentation needed" (type 3 code 4,
    /// RFC 1191), an ICMPv6 "packet too big" (RFC 8201), or a DF send refused locally with
    /// `EMSGSIZE` because it exceeds the interface MTU.
    FragmentationNeeded {
        /// The largest IP packet the path takes, IP and UDP headers included, as reported
        /// (`ee_info`); saturated at 65 535 (the loopback MTU is 65 536), and 0 from a router
        /// too old to say (RFC 1191 section 4). [`IcmpError::max_payload`] converts it to the
        /// largest uTP packet.
        mtu: u16,
    },
}

/// An ICMP error (or a local path-MTU error) about a datagram we sent, from
/// [`UdpSocket::recv_error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError {
    /// What it said.
    pub kind: IcmpKind,
    /// Where our datagram was going, in the form `send_to` was given it (IPv4-mapped IPv6 on a
    /// dual-stack socket). For a local `EMSGSIZE` over IPv4 Linux reports port 0.
    pub destination: SocketAddr,
    /// How many bytes of our original UDP payload (the uTP packet) were copied to the front of
    /// the caller's buffer. Possibly only a prefix: cut to the buffer, and ICMP quotes only
    /// the start of a large datagram (Linux keeps its ICMP messages to 576 bytes over IPv4 and
    /// 1280 over IPv6, quote included; RFC 792 asks only for the UDP header, leaving 0). 0 for
    /// a local `EMSGSIZE`, which quotes nothing: the driver knows the datagram from the failed
    /// send.
    pub len: usize,
}

impl IcmpError {
    /// For [`IcmpKind::FragmentationNeeded`]: the largest UDP payload (uTP packet) that fits
    /// the reported MTU, that is the MTU less 28 bytes of IPv4 and UDP headers (IPv4 and
    /// IPv4-mapped destinations) or 48 of IPv6 and UDP headers. `None` for
    /// [`IcmpKind::Unreachable`] or an MTU too small to hold the headers. The endpoint's packet
    /// sizes count the uTP packet only, so this, not the raw MTU, is what fits.
    pub fn max_payload(&self) -> Option<u16> {
        let IcmpKind::FragmentationNeeded { mtu } = self.kind else {
            return None;
        };
        let ipv4_on_wire = match self.destination {
            SocketAddr::V4(_) => true,
            SocketAddr::V6(a) => a.ip().to_ipv4_mapped().is_some(),
        };
        // IPv4 header 20 (RFC 791) or IPv6 header 40 (RFC 8200), plus UDP header 8 (RFC 768).
        let headers = if ipv4_on_wire { 20 + 8 } else { 40 + 8 };
        mtu.checked_sub(headers).filter(|&payload| payload > 0)
    }
}

/// A non-blocking UDP socket.
#[derive(Debug)]
pub struct UdpSocket {
    socket: Socket,
    /// The socket is IPv6 (possibly dual-stack): IPv6 destinations take the IPv6 options.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    ipv6: bool,
    /// Held shared by every plain send and exclusively by a DF send while it has the socket in
    /// probe mode: no plain send goes out with DF, and DF sends do not interleave.
    pmtu_mode: RwLock<()>,
    /// Datagrams the kernel had no room for, waiting to be sent (see [`super::held`]).
    held: HeldSends,
    /// Sends may use UDP segmentation offload (see [`batch`]); cleared when the kernel refuses.
    gso: AtomicBool,
}

impl UdpSocket {
    /// Sends one datagram (with the DF bit when `dont_fragment`). When the kernel has no room
    /// for it (`EAGAIN`, `ENOBUFS`), or earlier datagrams are still waiting, it is held and sent
    /// by a later [`flush_held`](Self::flush_held): a local shortage is not network loss, so it
    /// must not reach the engine as one. Other errors are returned (an `IP_RECVERR` error
    /// reports an ICMP message about an earlier datagram: drain [`UdpSocket::recv_error`] and
    /// retry); so is `ENOBUFS`-like trouble when the hold queue is full, as `WouldBlock`.
    pub fn send_or_hold(&self, data: &[u8], to: SocketAddr, dont_fragment: bool) -> io::Result<()> {
        if !self.held.any() {
            match self.send_now(data, to, dont_fragment) {
                Err(e) if is_local_shortage(&e) => {}
                other => return other,
            }
        }
        if self.held.hold(data, to, dont_fragment) {
            Ok(())
        } else {
            Err(io::Error::from(io::ErrorKind::WouldBlock))
        }
    }

    /// Sends held datagrams while the kernel takes them. Returns those that failed for another
    /// reason than a shortage (destination, DF flag, datagram, error), for the caller to handle
    /// as it would a direct send's error.
    pub fn flush_held(&self) -> Vec<(SocketAddr, bool, Vec<u8>, io::Error)> {
        self.held.flush(|data, to, df| self.send_now(data, to, df))
    }

    /// True while datagrams wait for room (the worker should retry within [`HELD_RETRY`]).
    pub fn has_held(&self) -> bool {
        self.held.any()
    }

    /// One send attempt, repeated only when interrupted by a signal.
    fn send_now(&self, data: &[u8], to: SocketAddr, dont_fragment: bool) -> io::Result<()> {
        loop {
            let result = if dont_fragment {
                self.send_to_dont_fragment(data, to)
            } else {
                self.send_to(data, to)
            };
            match result {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Binds to `addr` with `options`, with ICMP error reporting on and the plain path-MTU mode
    /// set (see the module documentation).
    pub fn bind(addr: SocketAddr, options: &UdpOptions) -> io::Result<Self> {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::DGRAM.nonblocking().cloexec(),
            Some(Protocol::UDP),
        )?;
        if let (true, Some(only)) = (addr.is_ipv6(), options.only_v6) {
            socket.set_only_v6(only)?;
        }
        // Best effort: the kernel caps the sizes; a smaller buffer still works. 0: not set.
        if options.recv_buffer > 0 {
            let _ = socket.set_recv_buffer_size(options.recv_buffer);
        }
        if options.send_buffer > 0 {
            let _ = socket.set_send_buffer_size(options.send_buffer);
        }
        #[cfg(target_os = "linux")]
        sys::configure(socket.as_raw_fd(), addr.is_ipv6())?;
        socket.bind(&SockAddr::from(addr))?;
        let socket = UdpSocket {
            socket,
            ipv6: addr.is_ipv6(),
            pmtu_mode: RwLock::new(()),
            held: HeldSends::default(),
            gso: AtomicBool::new(options.offload && cfg!(target_os = "linux")),
        };
        if options.offload {
            socket.enable_gro();
        }
        Ok(socket)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))
    }

    /// The socket buffer sizes the kernel granted (receive, send).
    pub fn buffer_sizes(&self) -> io::Result<(usize, usize)> {
        Ok((
            self.socket.recv_buffer_size()?,
            self.socket.send_buffer_size()?,
        ))
    }

    /// Sends one datagram, which may be fragmented; `WouldBlock` when the send buffer is full.
    /// Another error may be a pending ICMP error about an earlier datagram, in which case this
    /// one was not sent: drain [`recv_error`](Self::recv_error) and retry (module
    /// documentation).
    pub fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        let _plain = self.pmtu_mode.read();
        self.socket.send_to(buf, &SockAddr::from(to))
    }

    /// Sends one datagram with the IP "don't fragment" bit (IPv4) or unfragmented (IPv6),
    /// ignoring the path MTU the kernel has cached: a path-MTU probe, for a
    /// [`Transmit`](crate::proto::endpoint::Transmit) with `dont_fragment` set.
    ///
    /// Errors as [`send_to`](Self::send_to), and `EMSGSIZE` (`raw_os_error`) when the datagram
    /// exceeds the interface MTU: it was not sent, and a [`IcmpKind::FragmentationNeeded`]
    /// with the interface MTU and no payload is queued for [`recv_error`](Self::recv_error)
    /// (the driver pairs it with the datagram it tried to send). A router that refuses the
    /// datagram answers with ICMP, or not at all. Costs two `setsockopt` calls more than
    /// `send_to`; `Unsupported` on systems other than Linux.
    pub fn send_to_dont_fragment(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        {
            let fd = self.socket.as_raw_fd();
            let mode = sys::PmtuMode::for_destination(self.ipv6, to);
            let _probing = self.pmtu_mode.write();
            sys::set_int_option(fd, mode.level, mode.name, mode.probe)?;
            let sent = self.socket.send_to(buf, &SockAddr::from(to));
            if let Err(e) = sys::set_int_option(fd, mode.level, mode.name, mode.plain) {
                // Cannot happen for a valid descriptor and value; if it did, plain sends would
                // carry DF (as Linux's default mode does) until the next DF send resets it.
                log::error!(target: "utp::udp", "restoring the path-MTU mode after a DF send: {e}");
            }
            sent
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (buf, to);
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "don't-fragment sends need Linux",
            ))
        }
    }

    /// Receives one datagram; `WouldBlock` when none is queued. Another error may be a pending
    /// ICMP error about a datagram we sent: drain [`recv_error`](Self::recv_error) and retry
    /// (module documentation).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and initialised bytes are valid
        // `MaybeUninit`s; recv_from only writes into the slice.
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [core::mem::MaybeUninit<u8>]) };
        let (n, from) = self.socket.recv_from(uninit)?;
        let from = from
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP peer"))?;
        Ok((n, from))
    }

    /// Takes the next ICMP error from the socket's error queue (`recvmsg` with
    /// `MSG_ERRQUEUE`), copying the original payload it quotes (our uTP packet) into `buf`.
    ///
    /// `Ok(None)` once the queue is empty (it never blocks). Entries that map to no
    /// [`IcmpKind`] (time exceeded, parameter problem, ...) are logged at debug level and
    /// skipped, so `Ok(None)` always means empty and a `while let Some(..)` loop drains the
    /// queue, which also clears the pending error. Always `Ok(None)` on systems other than
    /// Linux.
    pub fn recv_error(&self, buf: &mut [u8]) -> io::Result<Option<IcmpError>> {
        #[cfg(target_os = "linux")]
        loop {
            let Some(entry) = sys::recv_error_entry(self.socket.as_raw_fd(), buf)? else {
                return Ok(None);
            };
            match (
                entry.error.as_ref().and_then(sys::classify),
                entry.destination,
            ) {
                (Some(kind), Some(destination)) => {
                    return Ok(Some(IcmpError {
                        kind,
                        destination,
                        len: entry.len,
                    }))
                }
                _ => log::debug!(target: "utp::udp", "error queue: skipped {entry:?}"),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = buf;
            Ok(None)
        }
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// The Linux socket options and the error queue, on raw descriptors through libc.
#[cfg(target_os = "linux")]
mod sys {
    use super::IcmpKind;
    use socket2::SockAddr;
    use std::io;
    use std::mem;
    use std::net::SocketAddr;
    use std::os::fd::RawFd;
    use std::ptr;

    use libc::c_int;

    /// The path-MTU option that governs sends to one destination, and its two values.
    #[derive(Debug, Clone, Copy)]
    pub(super) struct PmtuMode {
        pub(super) level: c_int,
        pub(super) name: c_int,
        /// For plain sends: fragmentation allowed.
        pub(super) plain: c_int,
        /// For DF sends.
        pub(super) probe: c_int,
    }

    /// IPv4 (and IPv4 on a dual-stack socket): no DF bit on plain sends.
    const IPV4: PmtuMode = PmtuMode {
        level: libc::IPPROTO_IP,
        name: libc::IP_MTU_DISCOVER,
        plain: libc::IP_PMTUDISC_DONT,
        probe: libc::IP_PMTUDISC_PROBE,
    };

    /// IPv6: plain sends fragmented by the kernel to the known path MTU (the kernel's
    /// default mode; `IPV6_PMTUDISC_DONT` would send the same way).
    const IPV6: PmtuMode = PmtuMode {
        level: libc::IPPROTO_IPV6,
        name: libc::IPV6_MTU_DISCOVER,
        plain: libc::IPV6_PMTUDISC_WANT,
        probe: libc::IPV6_PMTUDISC_PROBE,
    };

    impl PmtuMode {
        /// The option for sends to `to` from a socket of the given family: IPv4 destinations
        /// (plain or IPv4-mapped) go out as IPv4 even from an IPv6 socket, which then obeys
        /// its IPv4-level option.
        pub(super) fn for_destination(socket_ipv6: bool, to: SocketAddr) -> PmtuMode {
            let ipv4_on_wire = match to {
                SocketAddr::V4(_) => true,
                SocketAddr::V6(a) => a.ip().to_ipv4_mapped().is_some(),
            };
            if socket_ipv6 && !ipv4_on_wire {
                IPV6
            } else {
                IPV4
            }
        }
    }

    /// Error reporting on and the plain path-MTU modes set, at bind. On an IPv6 socket the
    /// IPv4-level options are set too, for the IPv4 side of a dual stack (harmless otherwise).
    pub(super) fn configure(fd: RawFd, ipv6: bool) -> io::Result<()> {
        set_int_option(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1)?;
        set_int_option(fd, IPV4.level, IPV4.name, IPV4.plain)?;
        if ipv6 {
            set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1)?;
            set_int_option(fd, IPV6.level, IPV6.name, IPV6.plain)?;
        }
        Ok(())
    }

    /// `setsockopt` of an `int` option.
    pub(super) fn set_int_option(
        fd: RawFd,
        level: c_int,
        name: c_int,
        value: c_int,
    ) -> io::Result<()> {
        // SAFETY: the option value points at a live `c_int` and the length passed is its size;
        // the kernel only reads it. A bad descriptor or option is reported as an error.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                ptr::addr_of!(value).cast(),
                mem::size_of::<c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// One entry read from the error queue, before mapping.
    #[derive(Debug)]
    pub(super) struct Entry {
        /// The `sock_extended_err` control message, if there was one.
        pub(super) error: Option<libc::sock_extended_err>,
        /// `msg_name`: where the original datagram was going.
        pub(super) destination: Option<SocketAddr>,
        /// Bytes of the original payload copied into the caller's buffer.
        pub(super) len: usize,
    }

    /// Reads one entry from the error queue without blocking; `None` when it is empty.
    pub(super) fn recv_error_entry(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<Entry>> {
        // SAFETY: a `sockaddr_storage` is plain integers, for which all-zero bytes are valid.
        let mut name: libc::sockaddr_storage = unsafe { mem::zeroed() };
        // Room for the `sock_extended_err` message (16 bytes and the offender's address, at
        // most a `sockaddr_in6`) and any other ancillary data someone enabled; `u64`s keep it
        // aligned for `cmsghdr`.
        let mut control = [0u64; 32];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: a `msghdr` is integers and raw pointers, for which all-zero bytes (null
        // pointers, zero lengths) are valid.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_name = ptr::addr_of_mut!(name).cast();
        msg.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control) as _;
        let len = loop {
            // SAFETY: `msg` points at `name`, one iovec covering `buf`, and `control`, all live
            // and exclusively borrowed for the call, with their true sizes; the kernel writes
            // only within them and updates the lengths in `msg`.
            let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
            if let Ok(n) = usize::try_from(n) {
                break n;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(None),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        };
        let destination = if msg.msg_namelen > 0 {
            // SAFETY: recvmsg wrote an address of `msg_namelen` bytes (at most the storage's
            // size, which it was told) into `name`, whose other bytes are zero.
            unsafe { SockAddr::new(name, msg.msg_namelen) }.as_socket()
        } else {
            None
        };
        Ok(Some(Entry {
            error: extended_error(&msg),
            destination,
            len,
        }))
    }

    /// The `IP_RECVERR`/`IPV6_RECVERR` control message in `msg`, as filled by recvmsg.
    fn extended_error(msg: &libc::msghdr) -> Option<libc::sock_extended_err> {
        let control_start = msg.msg_control as usize;
        #[allow(clippy::unnecessary_cast)] // `size_t` with glibc, `socklen_t` with musl.
        let control_end = control_start + msg.msg_controllen as usize;
        // SAFETY: CMSG_LEN is arithmetic on its argument.
        let wanted_len =
            unsafe { libc::CMSG_LEN(mem::size_of::<libc::sock_extended_err>() as u32) } as usize;
        let mut found = None;
        // SAFETY: `msg` describes its control buffer (live, and `msg_controllen` bytes of it
        // written by recvmsg); CMSG_FIRSTHDR returns null or a pointer to a header within it.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
        while !cmsg.is_null() {
            // SAFETY: a non-null header from CMSG_FIRSTHDR/CMSG_NXTHDR lies entirely within
            // the control buffer, aligned, and was written by the kernel.
            let header = unsafe { &*cmsg };
            let is_recverr = (header.cmsg_level == libc::SOL_IP
                && header.cmsg_type == libc::IP_RECVERR)
                || (header.cmsg_level == libc::SOL_IPV6 && header.cmsg_type == libc::IPV6_RECVERR);
            let fits =
                header.cmsg_len as usize >= wanted_len && cmsg as usize + wanted_len <= control_end;
            if is_recverr && fits {
                // SAFETY: the message holds a whole `sock_extended_err` (its length says so,
                // and it ends within the control buffer, both checked above); read_unaligned
                // needs no alignment, and the struct is plain integers.
                found = Some(unsafe {
                    ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>())
                });
            }
            // SAFETY: as for CMSG_FIRSTHDR; CMSG_NXTHDR checks the next header against
            // `msg_controllen` and returns null past the end.
            cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
        }
        found
    }

    /// ICMP "destination unreachable" (RFC 792) and its "fragmentation needed" code (RFC 1191).
    const ICMP_DEST_UNREACH: u8 = 3;
    const ICMP_FRAG_NEEDED: u8 = 4;
    /// ICMPv6 "destination unreachable" and "packet too big" (RFC 4443 sections 3.1, 3.2).
    const ICMPV6_DEST_UNREACH: u8 = 1;
    const ICMPV6_PKT_TOOBIG: u8 = 2;

    /// What an error-queue entry means for uTP, if anything.
    pub(super) fn classify(e: &libc::sock_extended_err) -> Option<IcmpKind> {
        let too_big = IcmpKind::FragmentationNeeded {
            mtu: u16::try_from(e.ee_info).unwrap_or(u16::MAX),
        };
        match e.ee_origin {
            libc::SO_EE_ORIGIN_ICMP => match (e.ee_type, e.ee_code) {
                (ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED) => Some(too_big),
                (ICMP_DEST_UNREACH, _) => Some(IcmpKind::Unreachable),
                _ => None,
            },
            libc::SO_EE_ORIGIN_ICMP6 => match e.ee_type {
                ICMPV6_DEST_UNREACH => Some(IcmpKind::Unreachable),
                ICMPV6_PKT_TOOBIG => Some(too_big),
                _ => None,
            },
            // `ip_local_error`/`ipv6_local_error`: a datagram above the MTU with DF.
            libc::SO_EE_ORIGIN_LOCAL if e.ee_errno == libc::EMSGSIZE as u32 => Some(too_big),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn loopback_round_trip_and_buffers() {
        let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &UdpOptions::default()).unwrap();
        let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &UdpOptions::default()).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            b.recv_from(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        a.send_to(b"ping", b.local_addr().unwrap()).unwrap();
        let mut got = None;
        for _ in 0..1000 {
            match b.recv_from(&mut buf) {
                Ok(r) => {
                    got = Some(r);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        }
        let (n, from) = got.expect("datagram arrived");
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, a.local_addr().unwrap());
        let (rcv, snd) = a.buffer_sizes().unwrap();
        assert!(rcv > 212_992 && snd > 212_992, "buffers {rcv} {snd}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn zero_buffer_sizes_leave_the_system_defaults() {
        let default = |name: &str| -> usize {
            std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let options = UdpOptions {
            recv_buffer: 0,
            send_buffer: 0,
            ..UdpOptions::default()
        };
        let s = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &options).unwrap();
        assert_eq!(
            s.buffer_sizes().unwrap(),
            (default("rmem_default"), default("wmem_default"))
        );
    }

    #[test]
    fn max_payload_subtracts_the_headers_of_the_wire_family() {
        let too_big = |destination: &str, mtu| IcmpError {
            kind: IcmpKind::FragmentationNeeded { mtu },
            destination: destination.parse().unwrap(),
            len: 0,
        };
        assert_eq!(too_big("127.0.0.1:9", 1500).max_payload(), Some(1472));
        assert_eq!(
            too_big("[::ffff:127.0.0.1]:9", 1500).max_payload(),
            Some(1472)
        );
        assert_eq!(too_big("[::1]:9", 1280).max_payload(), Some(1232));
        assert_eq!(too_big("127.0.0.1:9", 0).max_payload(), None);
        assert_eq!(too_big("[::1]:9", 48).max_payload(), None);
        let unreachable = IcmpError {
            kind: IcmpKind::Unreachable,
            ..too_big("[::1]:9", 1280)
        };
        assert_eq!(unreachable.max_payload(), None);
    }

    /// Tests of the Linux error queue and path-MTU modes, over loopback only.
    #[cfg(target_os = "linux")]
    mod linux {
        use super::super::sys;
        use super::*;
        use socket2::{Domain, Protocol, SockAddr, Socket, Type};

        fn bind(addr: &str) -> UdpSocket {
            UdpSocket::bind(addr.parse().unwrap(), &UdpOptions::default()).unwrap()
        }

        /// An address on which nothing listens: bound, read, closed.
        fn closed_port(addr: &str) -> SocketAddr {
            bind(addr).local_addr().unwrap()
        }

        /// Waits (up to 2 s) until `poll` reports POLLERR: an error is queued or pending.
        fn wait_pollerr(socket: &UdpSocket) {
            let mut fd = libc::pollfd {
                fd: socket.as_raw_fd(),
                events: 0,
                revents: 0,
            };
            // SAFETY: one live `pollfd`, and the count says one.
            let n = unsafe { libc::poll(&mut fd, 1, 2000) };
            assert!(
                n == 1 && fd.revents & libc::POLLERR != 0,
                "no POLLERR: poll {n}, revents {:#x}",
                fd.revents
            );
        }

        /// The next ICMP error, waiting up to 2 s for it.
        fn next_error(socket: &UdpSocket, buf: &mut [u8]) -> IcmpError {
            for _ in 0..2000 {
                if let Some(e) = socket.recv_error(buf).unwrap() {
                    return e;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            panic!("no ICMP error arrived");
        }

        /// The next datagram, waiting up to 2 s for it.
        fn next_datagram(socket: &UdpSocket, buf: &mut [u8]) -> (usize, SocketAddr) {
            for _ in 0..2000 {
                match socket.recv_from(buf) {
                    Ok(r) => return r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            panic!("no datagram arrived");
        }

        fn int_option(socket: &UdpSocket, level: libc::c_int, name: libc::c_int) -> libc::c_int {
            let mut value: libc::c_int = -1;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: the value and length point at live locals of the sizes given.
            let rc = unsafe {
                libc::getsockopt(
                    socket.as_raw_fd(),
                    level,
                    name,
                    std::ptr::addr_of_mut!(value).cast(),
                    &mut len,
                )
            };
            assert_eq!(rc, 0, "getsockopt: {}", io::Error::last_os_error());
            value
        }

        /// A uTP-looking payload (a version-1 ST_DATA header and a body), `len` bytes long.
        fn payload(len: usize) -> Vec<u8> {
            let mut p: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            p[0] = 0x01;
            p
        }

        /// A datagram to a closed port comes back as `Unreachable` with its destination and
        /// payload; the same ICMP error is also the socket's pending error, which the next
        /// `recv_from` or `send_to` returns once instead of working, and which draining the queue
        /// clears.
        fn port_unreachable_is_reported(local: &str) {
            let socket = bind(local);
            let dest = closed_port(local);
            let peer = bind(local);
            let sent = payload(64);
            let mut buf = vec![0u8; 2048];

            socket.send_to(&sent, dest).unwrap();
            let e = next_error(&socket, &mut buf);
            assert_eq!(e.kind, IcmpKind::Unreachable);
            assert_eq!(e.destination, dest);
            assert_eq!(&buf[..e.len], &sent[..]);
            assert_eq!(
                socket.recv_error(&mut buf).unwrap(),
                None,
                "one datagram, one error"
            );
            // Draining cleared the pending error.
            assert_eq!(
                socket.recv_from(&mut buf).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );

            // Not drained: recv_from reports the error once, and the entry stays queued.
            socket.send_to(&sent, dest).unwrap();
            wait_pollerr(&socket);
            let e = socket.recv_from(&mut buf).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED), "{e}");
            assert_eq!(
                socket.recv_from(&mut buf).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
            assert_eq!(next_error(&socket, &mut buf).kind, IcmpKind::Unreachable);
            assert_eq!(socket.recv_error(&mut buf).unwrap(), None);

            // Not drained: send_to reports it instead of sending; after draining, the retry goes.
            socket.send_to(&sent, dest).unwrap();
            wait_pollerr(&socket);
            let e = socket
                .send_to(b"first", peer.local_addr().unwrap())
                .unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED), "{e}");
            while socket.recv_error(&mut buf).unwrap().is_some() {}
            socket
                .send_to(b"retry", peer.local_addr().unwrap())
                .unwrap();
            let (n, _) = next_datagram(&peer, &mut buf);
            assert_eq!(&buf[..n], b"retry", "the failed send sent nothing");

            // A large datagram is quoted in part; a small buffer takes a prefix.
            let big = payload(1400);
            socket.send_to(&big, dest).unwrap();
            let e = next_error(&socket, &mut buf);
            assert!(e.len >= 20 && e.len < big.len(), "quoted {} bytes", e.len);
            assert_eq!(&buf[..e.len], &big[..e.len]);
            socket.send_to(&big, dest).unwrap();
            let mut small = [0u8; 10];
            let e = next_error(&socket, &mut small);
            assert_eq!((e.kind, e.len), (IcmpKind::Unreachable, 10));
            assert_eq!(&small[..], &big[..10]);
        }

        #[test]
        fn port_unreachable_ipv4() {
            port_unreachable_is_reported("127.0.0.1:0");
        }

        #[test]
        fn port_unreachable_ipv6() {
            if UdpSocket::bind("[::1]:0".parse().unwrap(), &UdpOptions::default()).is_err() {
                eprintln!("skipped: no IPv6 loopback");
                return;
            }
            port_unreachable_is_reported("[::1]:0");
        }

        /// A dual-stack socket (bound to the IPv4-mapped loopback address, so loopback only)
        /// reports ICMP errors for IPv4 destinations, named as it sends to them.
        #[test]
        fn port_unreachable_ipv4_mapped_on_dual_stack() {
            let options = UdpOptions {
                only_v6: Some(false),
                ..UdpOptions::default()
            };
            let Ok(socket) = UdpSocket::bind("[::ffff:127.0.0.1]:0".parse().unwrap(), &options)
            else {
                eprintln!("skipped: no dual-stack sockets");
                return;
            };
            assert_eq!(int_option(&socket, libc::IPPROTO_IP, libc::IP_RECVERR), 1);
            assert_eq!(
                int_option(&socket, libc::IPPROTO_IPV6, libc::IPV6_RECVERR),
                1
            );
            let dest: SocketAddr =
                format!("[::ffff:127.0.0.1]:{}", closed_port("127.0.0.1:0").port())
                    .parse()
                    .unwrap();
            let sent = payload(40);
            socket.send_to(&sent, dest).unwrap();
            let mut buf = [0u8; 2048];
            let e = next_error(&socket, &mut buf);
            assert_eq!((e.kind, e.destination), (IcmpKind::Unreachable, dest));
            assert_eq!(&buf[..e.len], &sent[..]);
        }

        /// The options set at bind read back, DF sends arrive like plain ones, and a DF send leaves
        /// the plain mode in place.
        #[test]
        fn options_at_bind_and_dont_fragment_sends_deliver() {
            let mut buf = vec![0u8; 65_536];
            let v4 = bind("127.0.0.1:0");
            let v4_peer = bind("127.0.0.1:0");
            assert_eq!(int_option(&v4, libc::IPPROTO_IP, libc::IP_RECVERR), 1);
            assert_eq!(
                int_option(&v4, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER),
                libc::IP_PMTUDISC_DONT
            );
            for len in [1, 1400, 65_507] {
                let sent = payload(len);
                assert_eq!(
                    v4.send_to_dont_fragment(&sent, v4_peer.local_addr().unwrap())
                        .unwrap(),
                    len
                );
                let (n, from) = next_datagram(&v4_peer, &mut buf);
                assert_eq!((&buf[..n], from), (&sent[..], v4.local_addr().unwrap()));
            }
            assert_eq!(
                int_option(&v4, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER),
                libc::IP_PMTUDISC_DONT
            );

            let Ok(v6) = UdpSocket::bind("[::1]:0".parse().unwrap(), &UdpOptions::default()) else {
                eprintln!("skipped the IPv6 half: no IPv6 loopback");
                return;
            };
            let v6_peer = bind("[::1]:0");
            assert_eq!(int_option(&v6, libc::IPPROTO_IPV6, libc::IPV6_RECVERR), 1);
            assert_eq!(
                int_option(&v6, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER),
                libc::IPV6_PMTUDISC_WANT
            );
            assert_eq!(
                int_option(&v6, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER),
                libc::IP_PMTUDISC_DONT
            );
            let sent = payload(1400);
            v6.send_to_dont_fragment(&sent, v6_peer.local_addr().unwrap())
                .unwrap();
            let (n, _) = next_datagram(&v6_peer, &mut buf);
            assert_eq!(&buf[..n], &sent[..]);
            assert_eq!(
                int_option(&v6, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER),
                libc::IPV6_PMTUDISC_WANT
            );
        }

        /// Over IPv6 a UDP payload can exceed the loopback MTU (65 527 + 48 > 65 536): a plain send
        /// is fragmented and arrives, a DF send fails with EMSGSIZE and queues a local
        /// FragmentationNeeded with the interface MTU, and plain sends still fragment afterwards.
        #[test]
        fn dont_fragment_above_the_interface_mtu_fails_ipv6() {
            let Ok(socket) = UdpSocket::bind("[::1]:0".parse().unwrap(), &UdpOptions::default())
            else {
                eprintln!("skipped: no IPv6 loopback");
                return;
            };
            let peer = bind("[::1]:0");
            let to = peer.local_addr().unwrap();
            let mut buf = vec![0u8; 65_536];
            let sent = payload(65_527);

            socket.send_to(&sent, to).unwrap();
            let (n, _) = next_datagram(&peer, &mut buf);
            assert_eq!(&buf[..n], &sent[..]);

            let e = socket.send_to_dont_fragment(&sent, to).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EMSGSIZE), "{e}");
            let e = next_error(&socket, &mut buf);
            assert_eq!(
                e,
                IcmpError {
                    kind: IcmpKind::FragmentationNeeded { mtu: u16::MAX },
                    destination: to,
                    len: 0
                }
            );
            assert_eq!(socket.recv_error(&mut buf).unwrap(), None);

            socket.send_to(&sent, to).unwrap();
            let (n, _) = next_datagram(&peer, &mut buf);
            assert_eq!(&buf[..n], &sent[..]);
            assert_eq!(
                peer.recv_from(&mut buf).unwrap_err().kind(),
                io::ErrorKind::WouldBlock,
                "the DF send sent nothing"
            );
        }

        // The tests below need a private network namespace (root, or CAP_SYS_ADMIN and
        // CAP_NET_RAW): one with a smaller loopback MTU, raw sockets to see the DF bit, and forged
        // ICMP errors, none of which may touch the host's loopback (a forged "fragmentation
        // needed" would change its cached path MTU). Without the privileges they are skipped.

        /// Runs `body` on a thread of its own moved into a new network namespace whose loopback is
        /// up with MTU `lo_mtu`; skips it (saying so) when the process may not make one.
        fn in_private_netns(lo_mtu: libc::c_int, body: impl FnOnce() + Send + 'static) {
            let ran = std::thread::spawn(move || {
                // SAFETY: unshare(CLONE_NEWNET) moves only the calling thread into a new network
                // namespace; this thread makes every socket the body uses, and then ends.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    let e = io::Error::last_os_error();
                    eprintln!("skipped: no private network namespace ({e})");
                    return;
                }
                loopback_up(lo_mtu);
                body();
            })
            .join();
            ran.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }

        /// Brings this namespace's `lo` up with `mtu`.
        fn loopback_up(mtu: libc::c_int) {
            let control = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
            // SAFETY: an `ifreq` is integers, arrays and a union of such: all-zero is valid.
            let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
            ifr.ifr_name[0] = b'l' as libc::c_char;
            ifr.ifr_name[1] = b'o' as libc::c_char;
            let ioctl = |request: libc::c_ulong, ifr: &mut libc::ifreq| {
                // SAFETY: these interface requests read and write one `ifreq`, which is live and
                // exclusively borrowed.
                let rc = unsafe {
                    libc::ioctl(control.as_raw_fd(), request as _, ifr as *mut libc::ifreq)
                };
                assert_eq!(rc, 0, "ioctl {request:#x}: {}", io::Error::last_os_error());
            };
            ioctl(libc::SIOCGIFFLAGS, &mut ifr);
            // SAFETY: SIOCGIFFLAGS filled the union's flags member.
            unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
            ioctl(libc::SIOCSIFFLAGS, &mut ifr);
            ifr.ifr_ifru.ifru_mtu = mtu;
            ioctl(libc::SIOCSIFMTU, &mut ifr);
        }

        /// Whether the next IPv4 UDP datagram from port `from` to port `to`, as a raw socket sees
        /// it arrive, has the DF bit (RFC 791 section 3.1).
        fn df_bit_seen(raw: &Socket, from: u16, to: u16) -> bool {
            use std::io::Read;
            let mut packet = vec![0u8; 65_536];
            loop {
                let n = (&*raw)
                    .read(&mut packet)
                    .expect("the raw socket saw the datagram");
                let header = usize::from(packet[0] & 0x0f) * 4;
                let ports = |at: usize| u16::from_be_bytes([packet[at], packet[at + 1]]);
                if n >= header + 8
                    && packet[9] == 17
                    && ports(header) == from
                    && ports(header + 2) == to
                {
                    return packet[6] & 0x40 != 0;
                }
            }
        }

        /// RFC 1071 Internet checksum.
        fn internet_checksum(data: &[u8]) -> [u8; 2] {
            let mut sum: u32 = data
                .chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
                .sum();
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            (!(sum as u16)).to_be_bytes()
        }

        fn v4(addr: SocketAddr) -> std::net::SocketAddrV4 {
            match addr {
                SocketAddr::V4(a) => a,
                SocketAddr::V6(_) => panic!("{addr} is not IPv4"),
            }
        }

        fn v6(addr: SocketAddr) -> std::net::SocketAddrV6 {
            match addr {
                SocketAddr::V6(a) => a,
                SocketAddr::V4(_) => panic!("{addr} is not IPv6"),
            }
        }

        /// Sends, through a raw ICMP socket, the ICMP error (RFC 792) a router would send about a
        /// UDP datagram `from` → `to` carrying `quoted`.
        fn forge_icmpv4(
            kind: u8,
            code: u8,
            rest: [u8; 4],
            from: SocketAddr,
            to: SocketAddr,
            quoted: &[u8],
        ) {
            let (from, to) = (v4(from), v4(to));
            let udp_len = (8 + quoted.len()) as u16;
            let mut ip = vec![0x45, 0];
            ip.extend((20 + udp_len).to_be_bytes());
            ip.extend([0, 0, 0x40, 0, 64, 17, 0, 0]);
            ip.extend(from.ip().octets());
            ip.extend(to.ip().octets());
            let ip_checksum = internet_checksum(&ip);
            ip[10..12].copy_from_slice(&ip_checksum);
            let mut icmp = vec![kind, code, 0, 0];
            icmp.extend(rest);
            icmp.extend(ip);
            icmp.extend(from.port().to_be_bytes());
            icmp.extend(to.port().to_be_bytes());
            icmp.extend(udp_len.to_be_bytes());
            icmp.extend([0, 0]);
            icmp.extend(quoted);
            let checksum = internet_checksum(&icmp);
            icmp[2..4].copy_from_slice(&checksum);
            let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).unwrap();
            raw.send_to(&icmp, &SockAddr::from(SocketAddr::from((*to.ip(), 0))))
                .unwrap();
        }

        /// The ICMPv6 error (RFC 4443) a router would send about a UDP datagram `from` → `to`
        /// carrying `quoted`. The kernel fills in the checksum of a raw ICMPv6 socket's packets.
        fn forge_icmpv6(
            kind: u8,
            code: u8,
            rest: [u8; 4],
            from: SocketAddr,
            to: SocketAddr,
            quoted: &[u8],
        ) {
            let (from, to) = (v6(from), v6(to));
            let udp_len = (8 + quoted.len()) as u16;
            let mut icmp = vec![kind, code, 0, 0];
            icmp.extend(rest);
            icmp.extend([0x60, 0, 0, 0]);
            icmp.extend(udp_len.to_be_bytes());
            icmp.extend([17, 64]);
            icmp.extend(from.ip().octets());
            icmp.extend(to.ip().octets());
            icmp.extend(from.port().to_be_bytes());
            icmp.extend(to.port().to_be_bytes());
            icmp.extend(udp_len.to_be_bytes());
            icmp.extend([0, 0]);
            icmp.extend(quoted);
            let raw = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).unwrap();
            raw.send_to(
                &icmp,
                &SockAddr::from(SocketAddr::new((*to.ip()).into(), 0)),
            )
            .unwrap();
        }

        /// Plain sends carry no DF bit and DF sends do (IPv4, and IPv4 from a dual-stack socket);
        /// a DF send up to the interface MTU goes, one byte more fails with EMSGSIZE and queues a
        /// local FragmentationNeeded, where a plain send of the same size is fragmented and arrives.
        #[test]
        fn dont_fragment_sets_the_df_bit_ipv4() {
            in_private_netns(1500, || {
                let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)).unwrap();
                raw.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let peer = bind("127.0.0.1:0");
                let mut buf = vec![0u8; 65_536];
                let dual = UdpOptions {
                    only_v6: Some(false),
                    ..UdpOptions::default()
                };
                let mapped_peer: SocketAddr =
                    format!("[::ffff:127.0.0.1]:{}", peer.local_addr().unwrap().port())
                        .parse()
                        .unwrap();
                for (socket, to) in [
                    (bind("127.0.0.1:0"), peer.local_addr().unwrap()),
                    (
                        UdpSocket::bind("[::ffff:127.0.0.1]:0".parse().unwrap(), &dual).unwrap(),
                        mapped_peer,
                    ),
                ] {
                    let from = socket.local_addr().unwrap().port();
                    for (dont_fragment, len) in [
                        (false, 100),
                        (true, 100),
                        (false, 100),
                        (true, 1472),
                        (false, 1472),
                        (false, 3000),
                    ] {
                        let sent = payload(len);
                        if dont_fragment {
                            socket.send_to_dont_fragment(&sent, to).unwrap();
                        } else {
                            socket.send_to(&sent, to).unwrap();
                        }
                        assert_eq!(
                            df_bit_seen(&raw, from, to.port()),
                            dont_fragment,
                            "{len} bytes to {to}"
                        );
                        let (n, _) = next_datagram(&peer, &mut buf);
                        assert_eq!(&buf[..n], &sent[..]);
                    }

                    let e = socket
                        .send_to_dont_fragment(&payload(1473), to)
                        .unwrap_err();
                    assert_eq!(e.raw_os_error(), Some(libc::EMSGSIZE), "{e}");
                    let e = next_error(&socket, &mut buf);
                    assert_eq!(
                        (e.kind, e.len),
                        (IcmpKind::FragmentationNeeded { mtu: 1500 }, 0)
                    );
                    assert_eq!(e.destination.ip(), to.ip());
                    // `ip_local_error` names the socket's connected port: none here.
                    assert_eq!(
                        e.destination.port(),
                        0,
                        "as IcmpError::destination documents"
                    );
                    assert_eq!(e.max_payload(), Some(1472));
                    assert_eq!(socket.recv_error(&mut buf).unwrap(), None);
                    assert_eq!(
                        peer.recv_from(&mut buf).unwrap_err().kind(),
                        io::ErrorKind::WouldBlock
                    );
                }
            });
        }

        /// Plain sends from one thread never go out with DF while another thread's DF sends switch
        /// the socket to probe mode, and DF sends always do.
        #[test]
        fn concurrent_plain_sends_never_carry_df() {
            in_private_netns(65_536, || {
                use std::io::Read;
                let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)).unwrap();
                raw.set_recv_buffer_size(4 << 20).unwrap();
                raw.set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let socket = std::sync::Arc::new(bind("127.0.0.1:0"));
                let peer = bind("127.0.0.1:0");
                let (from, to) = (
                    socket.local_addr().unwrap().port(),
                    peer.local_addr().unwrap(),
                );
                const EACH: usize = 2000;
                let prober = {
                    let socket = socket.clone();
                    std::thread::spawn(move || {
                        for _ in 0..EACH {
                            socket.send_to_dont_fragment(b"D", to).unwrap();
                        }
                    })
                };
                for _ in 0..EACH {
                    socket.send_to(b"P", to).unwrap();
                }
                prober.join().unwrap();

                let (mut plain, mut probes) = (0, 0);
                let mut packet = vec![0u8; 2048];
                while let Ok(n) = (&raw).read(&mut packet) {
                    let header = usize::from(packet[0] & 0x0f) * 4;
                    let port = |at: usize| u16::from_be_bytes([packet[at], packet[at + 1]]);
                    if n != header + 9 || port(header) != from || port(header + 2) != to.port() {
                        continue;
                    }
                    let df = packet[6] & 0x40 != 0;
                    match packet[header + 8] {
                        b'P' => {
                            assert!(!df, "a plain send went out with DF");
                            plain += 1;
                        }
                        _ => {
                            assert!(df, "a DF send went out without DF");
                            probes += 1;
                        }
                    }
                }
                assert!(
                    plain > EACH / 2 && probes > EACH / 2,
                    "saw {plain} plain, {probes} DF"
                );
            });
        }

        /// The IPv6 counterpart: a DF send above the interface MTU (1500 = 1452 + 48) fails with
        /// EMSGSIZE, a plain one is fragmented and arrives.
        #[test]
        fn dont_fragment_above_a_small_interface_mtu_ipv6() {
            in_private_netns(1500, || {
                let socket = bind("[::1]:0");
                let peer = bind("[::1]:0");
                let to = peer.local_addr().unwrap();
                let mut buf = vec![0u8; 65_536];
                socket.send_to_dont_fragment(&payload(1452), to).unwrap();
                assert_eq!(next_datagram(&peer, &mut buf).0, 1452);
                let e = socket
                    .send_to_dont_fragment(&payload(1453), to)
                    .unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::EMSGSIZE), "{e}");
                let e = next_error(&socket, &mut buf);
                assert_eq!(
                    e,
                    IcmpError {
                        kind: IcmpKind::FragmentationNeeded { mtu: 1500 },
                        destination: to,
                        len: 0
                    }
                );
                socket.send_to(&payload(3000), to).unwrap();
                assert_eq!(next_datagram(&peer, &mut buf).0, 3000);
            });
        }

        /// Router-sent ICMP errors, forged: each maps to its kind with the destination and quoted
        /// payload, unmapped ones are skipped, and an IPv4 "fragmentation needed" is dropped by
        /// the kernel while the socket is in its plain (no DF) mode.
        #[test]
        fn icmp_errors_from_routers() {
            in_private_netns(65_536, || {
                let mut buf = vec![0u8; 2048];
                let quoted = payload(100);
                let settle = || std::thread::sleep(Duration::from_millis(20));

                let socket = bind("127.0.0.1:0");
                let (from, to) = (
                    socket.local_addr().unwrap(),
                    "127.0.0.1:6881".parse().unwrap(),
                );
                let frag_needed_1200 = [0, 0, 0x04, 0xb0];
                // Plain mode: the kernel drops "fragmentation needed"; a later "port unreachable"
                // gets through.
                forge_icmpv4(3, 4, frag_needed_1200, from, to, &quoted);
                forge_icmpv4(3, 3, [0; 4], from, to, &quoted);
                let e = next_error(&socket, &mut buf);
                assert_eq!((e.kind, e.destination), (IcmpKind::Unreachable, to));
                assert_eq!(&buf[..e.len], &quoted[..]);
                settle();
                assert_eq!(socket.recv_error(&mut buf).unwrap(), None);

                // With "time exceeded" queued ahead of "host unreachable", one call skips the
                // first and returns the second. Each arrival sets the pending error, which reading
                // SO_ERROR clears, so the second one is known to be queued before the call.
                let pending = || int_option(&socket, libc::SOL_SOCKET, libc::SO_ERROR);
                forge_icmpv4(11, 0, [0; 4], from, to, &quoted);
                wait_pollerr(&socket);
                assert_eq!(pending(), libc::EHOSTUNREACH);
                forge_icmpv4(3, 1, [0; 4], from, to, &quoted);
                for _ in 0..2000 {
                    if pending() != 0 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                let e = socket
                    .recv_error(&mut buf)
                    .unwrap()
                    .expect("skipped to the second entry");
                assert_eq!((e.kind, e.destination), (IcmpKind::Unreachable, to));
                assert_eq!(socket.recv_error(&mut buf).unwrap(), None);

                // In a mode that sets DF, "fragmentation needed" is reported with its MTU.
                sys::set_int_option(
                    socket.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_MTU_DISCOVER,
                    libc::IP_PMTUDISC_WANT,
                )
                .unwrap();
                forge_icmpv4(3, 4, frag_needed_1200, from, to, &quoted);
                let e = next_error(&socket, &mut buf);
                assert_eq!(
                    e,
                    IcmpError {
                        kind: IcmpKind::FragmentationNeeded { mtu: 1200 },
                        destination: to,
                        len: quoted.len()
                    }
                );
                assert_eq!(&buf[..e.len], &quoted[..]);
                assert_eq!(e.max_payload(), Some(1172));

                // IPv6: "packet too big" whatever the mode, "administratively prohibited".
                let socket = bind("[::1]:0");
                let (from, to) = (socket.local_addr().unwrap(), "[::1]:6881".parse().unwrap());
                forge_icmpv6(2, 0, 1400u32.to_be_bytes(), from, to, &quoted);
                let e = next_error(&socket, &mut buf);
                assert_eq!(
                    e,
                    IcmpError {
                        kind: IcmpKind::FragmentationNeeded { mtu: 1400 },
                        destination: to,
                        len: quoted.len()
                    }
                );
                assert_eq!(&buf[..e.len], &quoted[..]);
                assert_eq!(e.max_payload(), Some(1352));
                forge_icmpv6(1, 1, [0; 4], from, to, &quoted);
                let e = next_error(&socket, &mut buf);
                assert_eq!((e.kind, e.destination), (IcmpKind::Unreachable, to));
                settle();
                assert_eq!(socket.recv_error(&mut buf).unwrap(), None);
            });
        }
    }
}
