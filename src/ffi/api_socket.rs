//! Socket-level functions of libutp's API (API notes section 2): create, options, userdata,
//! connect, write, read flow control, peer address, delays and statistics, shutdown, close.

use super::accept::options_for;
use super::api_context::live as live_ctx;
use super::boundary::{guard_context, guard_socket};
use super::context::UtpContext;
use super::dispatch::{args, dispatch, invoke, now, update_read_buffer};
use super::sockaddr;
use super::socket::{live, UtpSocket};
use super::types::callback::*;
use super::types::*;
use crate::proto::{ConnectionHandle, StreamError};
use core::ffi::{c_int, c_void};

/// `utp_create_socket`: a new unconnected socket with the context's options; NULL for a NULL
/// context.
///
/// # Safety
/// `ctx` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn utp_create_socket(ctx: *mut UtpContext) -> *mut UtpSocket {
    guard_context(ctx, core::ptr::null_mut(), || {
        // SAFETY: forwarded contract.
        let Some(ctx) = (unsafe { live_ctx(ctx) }) else {
            return core::ptr::null_mut();
        };
        // SAFETY: live context, no other borrow.
        let c = unsafe { &mut *ctx };
        let s = Box::into_raw(Box::new(UtpSocket::new(
            ctx,
            c.sndbuf,
            c.rcvbuf,
            c.target_delay,
        )));
        c.unconnected.insert(s);
        super::managed::adopt_socket(ctx, s);
        s
    })
}

/// `utp_set_userdata`: returns the new value, as libutp does.
///
/// # Safety
/// `s` must be NULL or a socket of this library.
#[no_mangle]
pub unsafe extern "C" fn utp_set_userdata(s: *mut UtpSocket, userdata: *mut c_void) -> *mut c_void {
    guard_socket(s, core::ptr::null_mut(), || {
        // SAFETY: forwarded contract.
        let Some(sock) = (unsafe { live(s) }) else {
            return core::ptr::null_mut();
        };
        sock.userdata = userdata;
        userdata
    })
}

/// `utp_get_userdata`.
///
/// # Safety
/// `s` must be NULL or a socket of this library.
#[no_mangle]
pub unsafe extern "C" fn utp_get_userdata(s: *mut UtpSocket) -> *mut c_void {
    // SAFETY: forwarded contract.
    guard_socket(s, core::ptr::null_mut(), || {
        unsafe { live(s) }.map_or(core::ptr::null_mut(), |sock| sock.userdata)
    })
}

/// `utp_setsockopt`: per-socket `UTP_SNDBUF`, `UTP_RCVBUF` (at least 1) and
/// `UTP_TARGET_DELAY`; 0, or -1. They apply to the connection made by `utp_connect`.
///
/// # Safety
/// `s` must be NULL or a socket of this library.
#[no_mangle]
pub unsafe extern "C" fn utp_setsockopt(s: *mut UtpSocket, opt: c_int, val: c_int) -> c_int {
    guard_socket(s, -1, || {
        // SAFETY: forwarded contract.
        let Some(sock) = (unsafe { live(s) }) else {
            return -1;
        };
        match opt {
            UTP_SNDBUF | UTP_RCVBUF if val < 1 => -1,
            UTP_SNDBUF => {
                sock.sndbuf = val;
                0
            }
            UTP_RCVBUF => {
                sock.rcvbuf = val;
                0
            }
            UTP_TARGET_DELAY => {
                sock.target_delay = val;
                0
            }
            _ => -1,
        }
    })
}

/// `utp_getsockopt`: the value, or -1.
///
/// # Safety
/// `s` must be NULL or a socket of this library.
#[no_mangle]
pub unsafe extern "C" fn utp_getsockopt(s: *mut UtpSocket, opt: c_int) -> c_int {
    guard_socket(s, -1, || {
        // SAFETY: forwarded contract.
        let Some(sock) = (unsafe { live(s) }) else {
            return -1;
        };
        match opt {
            UTP_SNDBUF => sock.sndbuf,
            UTP_RCVBUF => sock.rcvbuf,
            UTP_TARGET_DELAY => sock.target_delay,
            _ => -1,
        }
    })
}

/// `utp_connect`: starts connecting; the SYN is sent from inside this call. 0, or -1 for NULL,
/// a bad address, or a socket that was already connected or closed.
///
/// # Safety
/// `s` must be NULL or a socket of this library; `to` must hold `tolen` bytes.
#[no_mangle]
pub unsafe extern "C" fn utp_connect(
    s: *mut UtpSocket,
    to: *const libc::sockaddr,
    tolen: libc::socklen_t,
) -> c_int {
    guard_socket(s, -1, || {
        // SAFETY: forwarded contract. A socket with a peer is connecting or accepted (the
        // peer is set before the callbacks below, which may call utp_connect again).
        let ctx = match unsafe { live(s) } {
            Some(sock) if sock.handle.is_none() && !sock.closed && sock.peer.is_none() => sock.ctx,
            _ => return -1,
        };
        // SAFETY: forwarded contract.
        let Some(remote) = (unsafe { sockaddr::from_c(to, tolen) }) else {
            return -1;
        };
        // SAFETY: the socket's context is live while the socket is; no borrow alive.
        unsafe {
            if (*ctx).closing {
                return -1;
            }
            (*s).peer = Some(remote);
            let now = now(ctx);
            let (sndbuf, rcvbuf, target) = ((*s).sndbuf, (*s).rcvbuf, (*s).target_delay);
            let options = options_for(ctx, s, sndbuf, rcvbuf, target, remote);
            if let Some(seed) = invoke(ctx, args(ctx, s, UTP_GET_RANDOM)) {
                let high = invoke(ctx, args(ctx, s, UTP_GET_RANDOM)).unwrap_or(0);
                (*ctx).endpoint.reseed((high << 32) ^ seed);
            }
            // The callbacks may have closed the socket, which frees one never connected.
            if live(s).is_none() {
                return -1;
            }
            let handle = match (*ctx).endpoint.connect_with(now, remote, &options) {
                Ok(h) => h,
                Err(e) => {
                    log::debug!("utp_connect to {remote}: {e}");
                    (*s).peer = None;
                    return -1;
                }
            };
            (*s).handle = Some(handle);
            (*ctx).unconnected.remove(&s);
            (*ctx).sockets.insert(handle, s);
            dispatch(ctx, now);
        }
        0
    })
}

/// The context and connection of a connected socket.
///
/// # Safety
/// `s` must be NULL or a socket of this library.
unsafe fn connected(s: *mut UtpSocket) -> Option<(*mut UtpContext, ConnectionHandle)> {
    // SAFETY: forwarded contract; the reference does not outlive the expression.
    let sock = unsafe { live(s) }?;
    Some((sock.ctx, sock.handle?))
}

/// `utp_write`: `utp_writev` with one buffer.
///
/// # Safety
/// `s` must be NULL or a socket of this library; `buf` must hold `count` bytes.
#[no_mangle]
pub unsafe extern "C" fn utp_write(
    s: *mut UtpSocket,
    buf: *mut c_void,
    count: usize,
) -> libc::ssize_t {
    let mut iov = utp_iovec {
        iov_base: buf,
        iov_len: count,
    };
    // SAFETY: forwarded contract; `iov` lives across the call.
    unsafe { utp_writev(s, &mut iov, 1) }
}

/// `utp_writev`: queues the buffers' bytes (copied; the caller may reuse them at once) and
/// returns how many were taken: fewer when the send buffer fills (`UTP_STATE_WRITABLE`
/// follows), 0 when nothing fits or the socket cannot send, -1 for NULL arguments. A
/// zero-length write sends an empty data packet, as libutp does. At most `UTP_IOV_MAX`
/// buffers are used.
///
/// # Safety
/// `s` must be NULL or a socket of this library; `iovec` must hold `num_iovecs` entries, each
/// pointing at `iov_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn utp_writev(
    s: *mut UtpSocket,
    iovec: *mut utp_iovec,
    num_iovecs: usize,
) -> libc::ssize_t {
    guard_socket(s, -1, || {
        if iovec.is_null() || num_iovecs == 0 {
            return -1;
        }
        // SAFETY: forwarded contract.
        let Some(sock) = (unsafe { live(s) }) else {
            return -1;
        };
        let (ctx, Some(handle)) = (sock.ctx, sock.handle) else {
            return 0;
        };
        // SAFETY: the caller guarantees `num_iovecs` entries.
        let iovs = unsafe { core::slice::from_raw_parts(iovec, num_iovecs.min(UTP_IOV_MAX)) };
        // SAFETY: the socket's context is live; borrows end with each statement.
        unsafe {
            let now = now(ctx);
            let total: usize = iovs.iter().map(|v| v.iov_len).sum();
            let mut taken = 0usize;
            if total == 0 {
                let _ = (*ctx).endpoint.send_empty_packet(handle);
            }
            for v in iovs.iter().filter(|v| v.iov_len > 0) {
                if v.iov_base.is_null() {
                    break;
                }
                let data = core::slice::from_raw_parts(v.iov_base.cast::<u8>(), v.iov_len);
                match (*ctx).endpoint.write(handle, data) {
                    Ok(n) => {
                        taken += n;
                        if n < data.len() {
                            break;
                        }
                    }
                    Err(StreamError::WouldBlock) | Err(_) => break,
                }
            }
            dispatch(ctx, now);
            libc::ssize_t::try_from(taken).unwrap_or(libc::ssize_t::MAX)
        }
    })
}

/// `utp_getpeername`: copies the peer address (at most `*addrlen` bytes) and sets `*addrlen`
/// to the number of bytes copied, as libutp does. 0, or -1 for NULL arguments or a socket never
/// connected.
///
/// # Safety
/// `s` must be NULL or a socket of this library; `addr` must hold `*addrlen` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn utp_getpeername(
    s: *mut UtpSocket,
    addr: *mut libc::sockaddr,
    addrlen: *mut libc::socklen_t,
) -> c_int {
    guard_socket(s, -1, || {
        if addr.is_null() || addrlen.is_null() {
            return -1;
        }
        // SAFETY: forwarded contract.
        let Some(peer) = (unsafe { live(s) }).and_then(|sock| sock.peer) else {
            return -1;
        };
        let c = sockaddr::to_c(peer);
        // SAFETY: the caller guarantees `*addrlen` writable bytes at `addr`.
        unsafe {
            let n = (*addrlen).min(c.len());
            core::ptr::copy_nonoverlapping(c.as_ptr().cast::<u8>(), addr.cast::<u8>(), n as usize);
            *addrlen = n;
        }
        0
    })
}

/// `utp_read_drained`: the application's read buffer shrank; the window is recomputed (with
/// `UTP_GET_READ_BUFFER_SIZE`) and announced if it opened.
///
/// # Safety
/// `s` must be NULL or a socket of this library.
#[no_mangle]
pub unsafe extern "C" fn utp_read_drained(s: *mut UtpSocket) {
    guard_socket(s, (), || {
        // SAFETY: forwarded contract.
        let Some((ctx, handle)) = (unsafe { connected(s) }) else {
            return;
        };
        // SAFETY: the socket's context is live; no borrow alive.
        unsafe {
            let now = now(ctx);
            update_read_buffer(ctx, s, handle);
            dispatch(ctx, now);
        }
    })
}

/// `utp_get_delays`: queuing delay of our and the peer's direction (µs) and the time since the
/// peer was last heard from (ms). Any pointer may be NULL. 0, or -1 (outputs zeroed) for a
/// socket never connected.
///
/// # Safety
/// `s` must be NULL or a socket of this library; non-NULL outputs must be writable.
#[no_mangle]
pub unsafe extern "C" fn utp_get_delays(
    s: *mut UtpSocket,
    ours: *mut u32,
    theirs: *mut u32,
    age: *mut u32,
) -> c_int {
    guard_socket(s, -1, || {
        // SAFETY: forwarded contract.
        let found = unsafe { connected(s) }.and_then(|(ctx, handle)| {
            // SAFETY: the socket's context is live; no borrow alive during the clock callback.
            let now = unsafe { now(ctx) };
            // SAFETY: as above; the borrow ends with the expression.
            unsafe { (*ctx).endpoint.delays(handle, now) }.ok()
        });
        let (o, t, a, rc) = match found {
            Some(d) => (
                u32::try_from(d.ours.as_micros()).unwrap_or(u32::MAX),
                u32::try_from(d.theirs.as_micros()).unwrap_or(u32::MAX),
                d.since_last_received.map_or(u32::MAX, |x| {
                    u32::try_from(x.as_millis()).unwrap_or(u32::MAX)
                }),
                0,
            ),
            None => (0, 0, 0, -1),
        };
        // SAFETY: the caller guarantees each non-NULL pointer is writable.
        unsafe {
            for (p, v) in [(ours, o), (theirs, t), (age, a)] {
                if !p.is_null() {
                    *p = v;
                }
            }
        }
        rc
    })
}

/// `utp_get_stats`: the socket's counters (real numbers in every build, unlike libutp's NULL
/// outside debug builds). The pointer is valid until the socket is destroyed; NULL for a
/// socket never connected.
///
/// # Safety
/// `s` must be NULL or a socket of this library.
#[no_mangle]
pub unsafe extern "C" fn utp_get_stats(s: *mut UtpSocket) -> *mut utp_socket_stats {
    guard_socket(s, core::ptr::null_mut(), || {
        // SAFETY: forwarded contract.
        let Some((ctx, handle)) = (unsafe { connected(s) }) else {
            return core::ptr::null_mut();
        };
        // SAFETY: the socket's context is live; the borrow ends with the statement.
        let Ok(st) = (unsafe { (*ctx).endpoint.connection_stats(handle) }) else {
            // Closed but not yet destroyed: the last figures stay readable.
            // SAFETY: the socket is live (checked by `connected`).
            return unsafe { &mut (*s).stats };
        };
        let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        // SAFETY: the socket is live; no other borrow of it is alive.
        let out = unsafe { &mut (*s).stats };
        *out = utp_socket_stats {
            nbytes_recv: st.bytes_received,
            nbytes_xmit: st.bytes_sent,
            rexmit: clamp(st.retransmits),
            fastrexmit: clamp(st.fast_retransmits),
            nxmit: clamp(st.packets_sent),
            nrecv: clamp(st.packets_received),
            nduprecv: clamp(st.duplicates_received),
            mtu_guess: st.mtu,
        };
        out
    })
}

/// `utp_get_context`: the socket's context, or NULL.
///
/// # Safety
/// `s` must be NULL or a socket of this library.
#[no_mangle]
pub unsafe extern "C" fn utp_get_context(s: *mut UtpSocket) -> *mut UtpContext {
    // SAFETY: forwarded contract.
    guard_socket(s, core::ptr::null_mut(), || {
        unsafe { live(s) }.map_or(core::ptr::null_mut(), |sock| sock.ctx)
    })
}

/// `utp_shutdown`: `SHUT_RD` stops delivering data, `SHUT_WR` sends our FIN after the data
/// written, `SHUT_RDWR` both. Ignored on a socket never connected.
///
/// # Safety
/// `s` must be NULL or a socket of this library.
#[no_mangle]
pub unsafe extern "C" fn utp_shutdown(s: *mut UtpSocket, how: c_int) {
    guard_socket(s, (), || {
        // SAFETY: forwarded contract.
        let Some((ctx, handle)) = (unsafe { connected(s) }) else {
            return;
        };
        // SAFETY: the socket's context is live; borrows end with each statement.
        unsafe {
            let now = now(ctx);
            if how != libc::SHUT_WR {
                let _ = (*ctx).endpoint.shutdown_read(handle);
            }
            if how != libc::SHUT_RD {
                let _ = (*ctx).endpoint.shutdown(handle);
            }
            dispatch(ctx, now);
        }
    })
}

/// `utp_close`: closes gracefully; `UTP_STATE_DESTROYING` follows once our FIN is acknowledged
/// (or at once when there is nothing to finish), and callbacks may fire until then. A socket
/// never connected is freed at once, without callbacks (libutp aborts). A second close is
/// ignored.
///
/// # Safety
/// `s` must be NULL or a socket of this library.
#[no_mangle]
pub unsafe extern "C" fn utp_close(s: *mut UtpSocket) {
    guard_socket(s, (), || {
        // SAFETY: forwarded contract; the reference is dropped at the end of the block.
        let (ctx, handle) = match unsafe { live(s) } {
            Some(sock) if !sock.closed => {
                sock.closed = true;
                (sock.ctx, sock.handle)
            }
            _ => return,
        };
        // SAFETY: the socket's context is live; no borrow alive.
        unsafe {
            let Some(handle) = handle else {
                (*ctx).bury(s);
                return;
            };
            let now = now(ctx);
            let _ = (*ctx).endpoint.close(now, handle);
            dispatch(ctx, now);
        }
    })
}
