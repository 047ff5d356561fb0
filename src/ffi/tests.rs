//! The C API driven from Rust: two contexts wired back to back in memory.

use super::api_context::*;
use super::api_socket::*;
use super::context::UtpContext;
use super::socket::UtpSocket;
use super::types::callback::*;
use super::types::*;
use core::ffi::c_ulonglong;
use std::cell::RefCell;
use std::collections::VecDeque;

thread_local! {
    static WIRE: RefCell<VecDeque<(usize, Vec<u8>)>> = const { RefCell::new(VecDeque::new()) };
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static CTXS: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    static STATES: RefCell<Vec<(usize, i32)>> = const { RefCell::new(Vec::new()) };
}

fn side_of(ctx: *mut UtpContext) -> usize {
    CTXS.with(|c| {
        c.borrow()
            .iter()
            .position(|&p| p == ctx as usize)
            .unwrap_or(9)
    })
}

unsafe extern "C" fn on_sendto(a: *mut utp_callback_arguments) -> c_ulonglong {
    // SAFETY: the library passes a valid argument struct with `len` bytes at `buf`.
    let a = unsafe { &*a };
    let data = unsafe { core::slice::from_raw_parts(a.buf, a.len) }.to_vec();
    let to = 1 - side_of(a.context);
    WIRE.with(|w| w.borrow_mut().push_back((to, data)));
    0
}

unsafe extern "C" fn on_log(a: *mut utp_callback_arguments) -> c_ulonglong {
    // SAFETY: UTP_LOG passes a NUL-terminated line in `buf`.
    let line = unsafe { core::ffi::CStr::from_ptr((*a).buf.cast()) };
    LOG.with(|l| l.borrow_mut().push(line.to_string_lossy().into_owned()));
    0
}

unsafe extern "C" fn on_state(a: *mut utp_callback_arguments) -> c_ulonglong {
    // SAFETY: valid argument struct; `state` is the member set for this callback.
    let (side, state) = unsafe { (side_of((*a).context), (*a).u1.state) };
    STATES.with(|s| s.borrow_mut().push((side, state)));
    0
}

unsafe extern "C" fn on_accept(_: *mut utp_callback_arguments) -> c_ulonglong {
    0
}

thread_local! {
    static DELAY_SAMPLES: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

unsafe extern "C" fn on_delay_sample(_: *mut utp_callback_arguments) -> c_ulonglong {
    DELAY_SAMPLES.with(|d| d.set(d.get() + 1));
    0
}

fn addr(port: u16) -> (libc::sockaddr_in, libc::socklen_t) {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
        },
        sin_zero: [0; 8],
    };
    (
        sin,
        core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
    )
}

/// Delivers queued datagrams until the wire is empty.
unsafe fn run(ctx: [*mut UtpContext; 2]) {
    for _ in 0..10_000 {
        let Some((to, data)) = WIRE.with(|w| w.borrow_mut().pop_front()) else {
            return;
        };
        let (from, len) = addr(if to == 0 { 2000 } else { 1000 });
        // SAFETY: live contexts; valid buffers.
        let r = unsafe {
            utp_process_udp(
                ctx[to],
                data.as_ptr(),
                data.len(),
                (&from as *const libc::sockaddr_in).cast(),
                len,
            )
        };
        assert_eq!(r, 1);
    }
}

#[test]
fn log_lines_reach_utp_log_when_enabled() {
    // SAFETY: the test owns both contexts and destroys them at the end.
    unsafe {
        let ctx = [utp_init(2), utp_init(2)];
        CTXS.with(|c| *c.borrow_mut() = ctx.iter().map(|&p| p as usize).collect());
        for &c in &ctx {
            utp_set_callback(c, UTP_SENDTO, Some(on_sendto));
            utp_set_callback(c, UTP_LOG, Some(on_log));
            utp_set_callback(c, UTP_ON_STATE_CHANGE, Some(on_state));
        }
        utp_set_callback(ctx[1], UTP_ON_ACCEPT, Some(on_accept));
        assert_eq!(utp_context_set_option(ctx[0], UTP_LOG_NORMAL, 1), 0);
        assert_eq!(utp_context_get_option(ctx[0], UTP_LOG_NORMAL), 1);
        let s: *mut UtpSocket = utp_create_socket(ctx[0]);
        let (to, len) = addr(2000);
        assert_eq!(
            utp_connect(s, (&to as *const libc::sockaddr_in).cast(), len),
            0
        );
        run(ctx);
        assert!(STATES.with(|st| st.borrow().contains(&(0, UTP_STATE_CONNECT))));
        // Data from the initiator: its ACKs carry delay samples, reported per ACK.
        utp_set_callback(ctx[0], UTP_ON_DELAY_SAMPLE, Some(on_delay_sample));
        let mut data = vec![7u8; 20_000];
        assert_eq!(utp_write(s, data.as_mut_ptr().cast(), data.len()), 20_000);
        run(ctx);
        utp_issue_deferred_acks(ctx[1]);
        run(ctx);
        assert!(
            DELAY_SAMPLES.with(|d| d.get()) >= 1,
            "UTP_ON_DELAY_SAMPLE fired"
        );
        let lines = LOG.with(|l| l.borrow().clone());
        assert!(
            lines.iter().any(|l| l.contains("established")),
            "log lines: {lines:?}"
        );
        // Context 1 did not enable logging: its connection's lines never reach the callback.
        let before = lines.len();
        utp_destroy(ctx[1]);
        utp_destroy(ctx[0]);
        assert!(LOG.with(|l| l.borrow().len()) >= before);
    }
}

#[test]
fn null_and_destroyed_handles_are_refused() {
    // SAFETY: every call is given NULL, a live handle, or a destroyed socket still in the
    // context's graveyard.
    unsafe {
        assert!(utp_init(1).is_null());
        assert_eq!(
            utp_context_set_option(core::ptr::null_mut(), UTP_SNDBUF, 1),
            -1
        );
        assert_eq!(
            utp_write(core::ptr::null_mut(), core::ptr::null_mut(), 0),
            -1
        );
        let ctx = utp_init(2);
        assert_eq!(utp_context_set_option(ctx, UTP_SNDBUF, 0), -1);
        assert_eq!(utp_context_set_option(ctx, 99, 1), -1);
        let s = utp_create_socket(ctx);
        assert_eq!(utp_getsockopt(s, UTP_RCVBUF), 1024 * 1024);
        utp_close(s); // never connected: freed at once
        assert_eq!(
            utp_setsockopt(s, UTP_SNDBUF, 5),
            -1,
            "destroyed socket refused"
        );
        let (to, len) = addr(9);
        assert_eq!(
            utp_connect(s, (&to as *const libc::sockaddr_in).cast(), len),
            -1
        );
        let s2 = utp_create_socket(ctx);
        assert_eq!(
            utp_connect(s2, (&to as *const libc::sockaddr_in).cast(), 4),
            -1,
            "short sockaddr"
        );
        assert_eq!(
            utp_connect(s2, (&to as *const libc::sockaddr_in).cast(), len),
            0
        );
        assert_eq!(
            utp_connect(s2, (&to as *const libc::sockaddr_in).cast(), len),
            -1,
            "connect twice"
        );
        assert!(utp_get_stats(s2).is_null() || (*utp_get_stats(s2)).nxmit >= 1);
        WIRE.with(|w| w.borrow_mut().clear());
        utp_destroy(ctx);
    }
}

thread_local! {
    static READ: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static ACCEPTED: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

unsafe extern "C" fn on_read(a: *mut utp_callback_arguments) -> c_ulonglong {
    // SAFETY: UTP_ON_READ passes a valid argument struct with `len` received bytes at `buf`.
    let data = unsafe { core::slice::from_raw_parts((*a).buf, (*a).len) };
    READ.with(|r| r.borrow_mut().extend_from_slice(data));
    0
}

unsafe extern "C" fn on_accept_keep(a: *mut utp_callback_arguments) -> c_ulonglong {
    // SAFETY: valid argument struct; `socket` is the accepted socket.
    let socket = unsafe { (*a).socket };
    ACCEPTED.with(|s| s.set(socket as usize));
    0
}

#[test]
fn writev_reaches_on_read_whole_and_peer_names_and_userdata_cross_intact() {
    // Every pointer the C API takes or hands out in a transfer, checked under Miri too: the
    // iovec array and its buffers, the bytes lent to UTP_ON_READ, the address copied out by
    // utp_getpeername (whole and truncated), the userdata pointer.
    // SAFETY: the test owns both contexts and destroys them at the end; every buffer passed
    // outlives the call it is passed to.
    unsafe {
        let ctx = [utp_init(2), utp_init(2)];
        CTXS.with(|c| *c.borrow_mut() = ctx.iter().map(|&p| p as usize).collect());
        for &c in &ctx {
            utp_set_callback(c, UTP_SENDTO, Some(on_sendto));
        }
        utp_set_callback(ctx[1], UTP_ON_ACCEPT, Some(on_accept_keep));
        utp_set_callback(ctx[1], UTP_ON_READ, Some(on_read));
        let s = utp_create_socket(ctx[0]);
        let mut tag = 7u8;
        let tag_ptr: *mut core::ffi::c_void = (&mut tag as *mut u8).cast();
        assert_eq!(utp_set_userdata(s, tag_ptr), tag_ptr);
        assert_eq!(utp_get_userdata(s), tag_ptr);
        let (to, len) = addr(2000);
        assert_eq!(
            utp_connect(s, (&to as *const libc::sockaddr_in).cast(), len),
            0
        );
        run(ctx);
        let b = ACCEPTED.with(|a| a.get()) as *mut UtpSocket;
        assert!(!b.is_null(), "the connection was accepted");

        // The acceptor sees the initiator's address (run() delivers from port 1000).
        let mut peer: libc::sockaddr_storage = core::mem::zeroed();
        let mut peer_len = core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let peer_ptr = (&mut peer as *mut libc::sockaddr_storage).cast();
        assert_eq!(utp_getpeername(b, peer_ptr, &mut peer_len), 0);
        assert_eq!(peer_len as usize, core::mem::size_of::<libc::sockaddr_in>());
        let sin = &*(&peer as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>();
        assert_eq!(u16::from_be(sin.sin_port), 1000);
        // A buffer too short for the address gets its first bytes and their count.
        let mut short = [0u8; 4];
        let mut short_len: libc::socklen_t = 4;
        assert_eq!(
            utp_getpeername(s, short.as_mut_ptr().cast(), &mut short_len),
            0
        );
        assert_eq!(short_len, 4);
        assert_eq!(
            u16::from_ne_bytes([short[0], short[1]]),
            libc::AF_INET as u16
        );
        assert_eq!(u16::from_be_bytes([short[2], short[3]]), 2000);

        // Three buffers, one of them empty, become one stream of bytes.
        let mut parts = [
            b"first ".to_vec(),
            Vec::new(),
            (0..3000).map(|i| i as u8).collect(),
        ];
        let mut iov: Vec<utp_iovec> = parts
            .iter_mut()
            .map(|p| utp_iovec {
                iov_base: p.as_mut_ptr().cast(),
                iov_len: p.len(),
            })
            .collect();
        assert_eq!(utp_writev(s, iov.as_mut_ptr(), iov.len()), 3006);
        for _ in 0..4 {
            run(ctx);
            utp_issue_deferred_acks(ctx[1]);
        }
        let got = READ.with(|r| r.borrow().clone());
        assert!(got == parts.concat(), "received {} bytes", got.len());
        utp_read_drained(b);
        run(ctx);
        utp_destroy(ctx[1]);
        utp_destroy(ctx[0]);
    }
}
