//! The functions of `include/utp_managed.h`: managed contexts, and blocking or non-blocking
//! helpers for applications that would rather call than be called back.
//!
//! Conventions: functions return 0 (or a byte count) on success and a negated `errno` value on
//! failure: `-EINVAL` bad argument or a handle that is not managed, `-EAGAIN` nothing could be
//! done before the timeout, `-ECONNREFUSED`/`-ECONNRESET`/`-ETIMEDOUT` the connection failed,
//! `-EPIPE` writing after `utp_shutdown(SHUT_WR)`, `-ENOTCONN` a closed socket or a context
//! being destroyed, `-EDEADLK` a blocking call from a callback (which runs with the context's
//! lock held), `-EINPROGRESS` a connection started but not finished. A `timeout_ms` of 0 never
//! blocks; a negative one waits without limit.

use super::{
    deadline, locked, of_context, of_socket, Managed, ManagedIo, Progress, Registered, DRIVING,
    LIVE, REGISTRY,
};
use crate::ffi::api_context::{destroy_plain, live as live_ctx, utp_init};
use crate::ffi::api_socket::{utp_close, utp_connect, utp_create_socket};
use crate::ffi::boundary::guard;
use crate::ffi::context::UtpContext;
use crate::ffi::dispatch::{dispatch, now};
use crate::ffi::sockaddr;
use crate::ffi::socket::{live, UtpSocket};
use crate::ffi::types::callback::{UTP_ON_ACCEPT, UTP_ON_READ};
use crate::proto::{ConnectionError, State, StreamError};
use crate::runtime::clock;
use crate::runtime::pool::Runtime;
use crate::runtime::udp::{UdpOptions, UdpSocket};
use core::ffi::{c_int, c_void};
use parking_lot::{Condvar, Mutex, ReentrantMutex};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Receives a datagram that is not uTP: `(user, buf, len, from, fromlen)`, see
/// `utp_managed_set_udp_handler`.
#[allow(non_camel_case_types)] // The C name.
pub type utp_managed_udp_handler = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        buf: *const u8,
        len: usize,
        from: *const libc::sockaddr,
        fromlen: libc::socklen_t,
    ),
>;

/// Sets the calling thread's `errno`.
fn set_errno(code: c_int) {
    // SAFETY: `__errno_location` returns the calling thread's errno slot, always valid.
    unsafe { *libc::__errno_location() = code };
}

/// `-errno` for a failed connection.
fn connection_errno(e: ConnectionError) -> c_int {
    -match e {
        ConnectionError::Refused => libc::ECONNREFUSED,
        ConnectionError::Reset => libc::ECONNRESET,
        ConnectionError::TimedOut => libc::ETIMEDOUT,
        ConnectionError::Evicted => libc::ECONNABORTED,
    }
}

/// `-errno` for an engine error on socket `s`.
///
/// # Safety
/// `s` must be a live socket.
unsafe fn stream_errno(e: StreamError, s: *mut UtpSocket) -> c_int {
    match e {
        StreamError::Connection(c) => connection_errno(c),
        StreamError::WriteClosed => -libc::EPIPE,
        StreamError::WouldBlock => -libc::EAGAIN,
        // SAFETY: per the contract.
        StreamError::UnknownConnection => match unsafe { (*s).error } {
            Some(c) => connection_errno(c),
            None => -libc::ENOTCONN,
        },
    }
}

/// Whether the calling thread runs a callback of `m` (holds its lock) or drives a managed
/// context: blocking there would stop the very thread that makes progress.
fn would_deadlock(m: &Managed) -> bool {
    m.lock.is_owned_by_current_thread() || DRIVING.with(|d| d.get())
}

/// Runs `attempt` with the context's lock held until it gives an answer, waiting for the
/// context to make progress in between. `Ok(None)` when `timeout_ms` passes first (at once for
/// 0); `Err(-errno)` when the context is being destroyed or waiting would deadlock.
///
/// `attempt` sets its flag when it changed the context without finishing (a partial write):
/// the worker is then woken to re-read its deadlines. An attempt that changed nothing wakes
/// nobody, so a waiting thread and the worker never keep each other busy.
fn retry<T>(
    m: &Managed,
    timeout_ms: c_int,
    mut attempt: impl FnMut(&mut bool) -> Option<T>,
) -> Result<Option<T>, c_int> {
    if timeout_ms != 0 && would_deadlock(m) {
        return Err(-libc::EDEADLK);
    }
    let deadline = deadline(timeout_ms);
    loop {
        let seen = m.generation();
        let answer = {
            let _held = m.lock.lock();
            if m.stopped() {
                return Err(-libc::ENOTCONN);
            }
            let mut changed = false;
            let answer = attempt(&mut changed);
            let due =
                (answer.is_some() || changed).then(|| m.engine_due(clock::monotonic_micros()));
            (answer, due)
        };
        let (answer, due) = answer;
        if let Some(due) = due {
            m.after_call(due);
        }
        if answer.is_some() {
            return Ok(answer);
        }
        if timeout_ms == 0 {
            return Ok(None);
        }
        if !m.wait_change(seen, deadline) {
            return Ok(None);
        }
    }
}

/// `utp_managed_create`: a context bound to `addr` (port 0 picks one) and driven by the
/// runtime's threads. NULL on failure, with `errno` set (`EINVAL` for a bad address, or the
/// error of `bind`).
///
/// # Safety
/// `addr` must be NULL or hold `addrlen` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn utp_managed_create(
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
) -> *mut UtpContext {
    guard(core::ptr::null_mut(), || {
        // SAFETY: forwarded contract.
        let Some(local) = (unsafe { sockaddr::from_c(addr, addrlen) }) else {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        };
        let fail = |e: std::io::Error| {
            set_errno(e.raw_os_error().unwrap_or(libc::EIO));
            core::ptr::null_mut()
        };
        let socket = match UdpSocket::bind(local, &UdpOptions::default()) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let runtime = match Runtime::shared() {
            Ok(rt) => rt,
            Err(e) => return fail(e),
        };
        let ctx = utp_init(2);
        if ctx.is_null() {
            set_errno(libc::ENOMEM);
            return ctx;
        }
        let io = Arc::new(ManagedIo::new(socket));
        // SAFETY: a fresh context no other thread knows of yet.
        unsafe { (*ctx).managed = Some(io.clone()) };
        let registered = runtime.register(|wake| {
            let managed = Arc::new(Managed {
                ctx: super::ContextPtr(ctx),
                lock: ReentrantMutex::new(()),
                progress: Mutex::new(Progress::default()),
                changed: Condvar::new(),
                io,
                wake,
                closing: AtomicBool::new(false),
                closing_since: AtomicU64::new(0),
                handler: Mutex::new((None, 0)),
            });
            REGISTRY.write().contexts.insert(
                ctx as usize,
                Registered {
                    managed: managed.clone(),
                    _runtime: runtime.clone(),
                },
            );
            LIVE.fetch_add(1, Ordering::AcqRel);
            Ok(managed)
        });
        if let Err(e) = registered {
            // SAFETY: the context was never registered nor published.
            unsafe { destroy_plain(ctx) };
            return fail(e);
        }
        ctx
    })
}

/// `utp_managed_destroy`: closes every connection, waits up to 3 s for their FINs to be
/// acknowledged, fires `UTP_STATE_DESTROYING` for sockets still alive, frees the context and
/// its sockets, and joins the runtime's threads if no other managed context or socket uses
/// them. `-EDEADLK` from a callback; `-EINVAL` if `ctx` is not a managed context.
///
/// # Safety
/// `ctx` must be NULL or a context of this library; no other thread may use it or its
/// sockets during or after the call.
#[no_mangle]
pub unsafe extern "C" fn utp_managed_destroy(ctx: *mut UtpContext) -> c_int {
    guard(-libc::EINVAL, || {
        let Some(m) = of_context(ctx) else {
            return -libc::EINVAL;
        };
        if would_deadlock(&m) {
            return -libc::EDEADLK;
        }
        {
            let _held = m.lock.lock();
            m.closing.store(true, Ordering::Release);
            // SAFETY: live managed context, lock held; no borrow alive across the dispatch.
            unsafe {
                (*ctx).closing = true;
                let now = now(ctx);
                let sockets: Vec<*mut UtpSocket> = (*ctx).sockets.values().copied().collect();
                for s in sockets {
                    if let Some(h) = (*s).handle {
                        (*s).closed = true;
                        let _ = (*ctx).endpoint.close(now, h);
                    }
                }
                dispatch(ctx, now);
            }
        }
        // The worker must notice `closing` whatever its deadline.
        m.bump();
        m.wake.wake();
        // The worker drives the closing connections and stops when they are done.
        {
            let mut p = m.progress.lock();
            while !p.stopped {
                m.changed.wait(&mut p);
            }
        }
        let registered = {
            let _held = m.lock.lock();
            // SAFETY: the worker no longer drives the context; the lock keeps out other callers
            // that are still (wrongly) in flight.
            unsafe { destroy_plain(ctx) };
            let mut registry = REGISTRY.write();
            let r = registry.contexts.remove(&(ctx as usize));
            LIVE.fetch_sub(1, Ordering::AcqRel);
            if registry.contexts.is_empty() {
                // Nothing managed is left: give the tables' memory back (a process that is
                // done with managed contexts holds none of it, and leak checkers agree).
                *registry = Default::default();
            }
            r
        };
        // Joins the runtime's threads here, on the application's thread, if this was the last
        // user of the runtime.
        drop(registered);
        0
    })
}

/// `utp_managed_local_address`: the bound address (with the port chosen by the system when 0
/// was asked for). `*addrlen` gives the room at `addr` and receives the full length; a
/// shorter buffer gets a truncated address, as `getsockname` does.
///
/// # Safety
/// `ctx` must be NULL or a context of this library; `addr` must have `*addrlen` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn utp_managed_local_address(
    ctx: *mut UtpContext,
    addr: *mut libc::sockaddr,
    addrlen: *mut libc::socklen_t,
) -> c_int {
    guard(-libc::EINVAL, || {
        let Some(m) = of_context(ctx) else {
            return -libc::EINVAL;
        };
        if addr.is_null() || addrlen.is_null() {
            return -libc::EINVAL;
        }
        let local = match m.io.socket.local_addr() {
            Ok(a) => a,
            Err(e) => return -e.raw_os_error().unwrap_or(libc::EIO),
        };
        let c = sockaddr::to_c(local);
        // SAFETY: the caller guarantees `*addrlen` writable bytes at `addr`; at most that many
        // (and at most the converted address's length) are copied.
        unsafe {
            let room = (*addrlen as usize).min(c.len() as usize);
            core::ptr::copy_nonoverlapping(c.as_ptr().cast::<u8>(), addr.cast::<u8>(), room);
            *addrlen = c.len();
        }
        0
    })
}

/// `utp_managed_connect`: connects to `addr` and stores the socket in `*out`. With a timeout,
/// waits for the handshake: 0 when connected, or the failure (the socket is then closed and
/// `*out` left NULL; when the timeout passes first, `-ETIMEDOUT`). With `timeout_ms` 0 it
/// returns `-EINPROGRESS` at once with `*out` set: completion is reported by `UTP_ON_CONNECT`
/// (or `UTP_ON_STATE_CHANGE`), and `utp_managed_write` waits for it.
///
/// # Safety
/// `ctx` must be NULL or a context of this library; `addr` must hold `addrlen` bytes; `out`
/// must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn utp_managed_connect(
    ctx: *mut UtpContext,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
    timeout_ms: c_int,
    out: *mut *mut UtpSocket,
) -> c_int {
    guard(-libc::EINVAL, || {
        let Some(m) = of_context(ctx) else {
            return -libc::EINVAL;
        };
        if out.is_null() {
            return -libc::EINVAL;
        }
        // SAFETY: `out` is writable per the contract.
        unsafe { *out = core::ptr::null_mut() };
        if timeout_ms != 0 && would_deadlock(&m) {
            return -libc::EDEADLK;
        }
        let started = locked(Some(m.clone()), || {
            // SAFETY: live managed context with its lock held (reentrant for these calls).
            unsafe {
                if live_ctx(ctx).is_none() || (*ctx).closing {
                    return Err(-libc::ENOTCONN);
                }
                let s = utp_create_socket(ctx);
                if s.is_null() {
                    return Err(-libc::ENOMEM);
                }
                if utp_connect(s, addr, addrlen) != 0 {
                    utp_close(s);
                    return Err(-libc::EINVAL);
                }
                Ok(s)
            }
        });
        let s = match started {
            Ok(s) => s,
            Err(e) => return e,
        };
        if timeout_ms == 0 {
            // SAFETY: as above.
            unsafe { *out = s };
            return -libc::EINPROGRESS;
        }
        let outcome = retry(&m, timeout_ms, |_| {
            // SAFETY: live context with its lock held; `s` is one of its sockets, not freed
            // before `utp_close` (which only the application calls).
            unsafe {
                let sock = live(s)?;
                if let Some(e) = sock.error {
                    return Some(connection_errno(e));
                }
                let h = sock.handle?;
                match (*ctx).endpoint.state(h) {
                    Ok(State::Connected) => Some(0),
                    Ok(State::SynSent) => None,
                    _ => Some(-libc::ENOTCONN),
                }
            }
        });
        let code = match outcome {
            Ok(Some(code)) => code,
            Ok(None) => -libc::ETIMEDOUT,
            Err(code) => return code,
        };
        if code == 0 {
            // SAFETY: as above.
            unsafe { *out = s };
        } else {
            // SAFETY: `s` is a socket of the managed context; `utp_close` locks it.
            unsafe { utp_close(s) };
        }
        code
    })
}

/// `utp_managed_accept`: takes the next incoming connection into `*out` (waiting up to
/// `timeout_ms`; `-EAGAIN` when none came). Only for a context without `UTP_ON_ACCEPT`,
/// which then queues incoming connections (up to 1024; further SYNs are ignored) instead of
/// calling back; `-EINVAL` otherwise. The peer's address: `utp_getpeername`.
///
/// Only connections the peer has confirmed are handed out: it acknowledged the SYN-ACK (the
/// sender of a spoofed SYN never sees it), or stayed silent for 250 ms without failing (as
/// libutp's initiators do until they have data). One that fails before (evicted by a SYN
/// flood, or its SYN-ACK met an ICMP error) is released by the library, unseen, and takes no
/// place in the queue.
///
/// # Safety
/// `ctx` must be NULL or a context of this library; `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn utp_managed_accept(
    ctx: *mut UtpContext,
    timeout_ms: c_int,
    out: *mut *mut UtpSocket,
) -> c_int {
    guard(-libc::EINVAL, || {
        let Some(m) = of_context(ctx) else {
            return -libc::EINVAL;
        };
        if out.is_null() {
            return -libc::EINVAL;
        }
        let outcome = retry(&m, timeout_ms, |_| {
            // SAFETY: live context with its lock held, no other borrow.
            let c = unsafe { &mut *ctx };
            if c.callbacks[UTP_ON_ACCEPT as usize].is_some() {
                return Some(Err(-libc::EINVAL));
            }
            c.accept_queue.pop_front().map(Ok)
        });
        match outcome {
            Ok(Some(Ok(s))) => {
                // SAFETY: `out` is writable per the contract.
                unsafe { *out = s };
                0
            }
            Ok(Some(Err(e))) | Err(e) => e,
            Ok(None) => -libc::EAGAIN,
        }
    })
}

/// `utp_managed_read`: up to `len` received bytes into `buf`; 0 at the end of the stream
/// (the peer's FIN). Waits up to `timeout_ms` for data (`-EAGAIN` when none came). Only for
/// a context without `UTP_ON_READ`: received data then stays queued in the library (the
/// advertised window closes as it fills) until read; `-EINVAL` otherwise.
///
/// # Safety
/// `s` must be NULL or a socket of this library; `buf` must have `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn utp_managed_read(
    s: *mut UtpSocket,
    buf: *mut c_void,
    len: usize,
    timeout_ms: c_int,
) -> libc::ssize_t {
    guard(-libc::EINVAL as libc::ssize_t, || {
        let Some(m) = of_socket(s) else {
            return -libc::EINVAL as libc::ssize_t;
        };
        if buf.is_null() || len == 0 || len > isize::MAX as usize {
            return -libc::EINVAL as libc::ssize_t;
        }
        let outcome = retry(&m, timeout_ms, |_| {
            // SAFETY: lock held; `s` is NULL-checked and marker-checked by `live`; `buf` has
            // `len` writable bytes per the contract; no borrow alive across the dispatch.
            unsafe {
                let Some(sock) = live(s) else {
                    return Some(-libc::ENOTCONN as isize);
                };
                let ctx = sock.ctx;
                if (*ctx).callbacks[UTP_ON_READ as usize].is_some() {
                    return Some(-libc::EINVAL as isize);
                }
                let Some(h) = sock.handle else {
                    return Some(-libc::ENOTCONN as isize);
                };
                let out = core::slice::from_raw_parts_mut(buf.cast::<u8>(), len);
                match (*ctx).endpoint.read(h, out) {
                    Ok(n) => {
                        // Reading reopened the window: let the update out.
                        let now = now(ctx);
                        dispatch(ctx, now);
                        Some(n as isize)
                    }
                    Err(StreamError::WouldBlock) => None,
                    Err(e) => Some(stream_errno(e, s) as isize),
                }
            }
        });
        match outcome {
            Ok(Some(n)) => n as libc::ssize_t,
            Ok(None) => -libc::EAGAIN as libc::ssize_t,
            Err(e) => e as libc::ssize_t,
        }
    })
}

/// `utp_managed_write`: queues `buf` for sending. With a timeout it waits for room (and for a
/// connection still being set up) until every byte is queued or the timeout passes, and
/// returns the bytes queued (`-EAGAIN` if none); with `timeout_ms` 0 it queues what fits now.
/// Queued bytes are delivered even if the socket is closed right after.
///
/// # Safety
/// `s` must be NULL or a socket of this library; `buf` must hold `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn utp_managed_write(
    s: *mut UtpSocket,
    buf: *const c_void,
    len: usize,
    timeout_ms: c_int,
) -> libc::ssize_t {
    guard(-libc::EINVAL as libc::ssize_t, || {
        let Some(m) = of_socket(s) else {
            return -libc::EINVAL as libc::ssize_t;
        };
        if buf.is_null() || len == 0 || len > isize::MAX as usize {
            return -libc::EINVAL as libc::ssize_t;
        }
        // SAFETY: the caller guarantees `len` readable bytes.
        let data = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
        let mut done = 0usize;
        let partial_ok = timeout_ms == 0;
        let outcome = retry(&m, timeout_ms, |changed| {
            // SAFETY: lock held; `s` checked by `live`; no borrow alive across the dispatch.
            unsafe {
                let Some(sock) = live(s) else {
                    return Some(-libc::ENOTCONN as isize);
                };
                let ctx = sock.ctx;
                let Some(h) = sock.handle else {
                    return Some(-libc::ENOTCONN as isize);
                };
                if let Ok(State::SynSent) = (*ctx).endpoint.state(h) {
                    return None;
                }
                match (*ctx).endpoint.write(h, &data[done..]) {
                    Ok(n) => {
                        done += n;
                        *changed = true;
                        let now = now(ctx);
                        dispatch(ctx, now);
                        (done == len || (partial_ok && done > 0)).then_some(done as isize)
                    }
                    Err(StreamError::WouldBlock) => {
                        (partial_ok && done > 0).then_some(done as isize)
                    }
                    Err(_) if done > 0 => Some(done as isize),
                    Err(e) => Some(stream_errno(e, s) as isize),
                }
            }
        });
        match outcome {
            Ok(Some(n)) => n as libc::ssize_t,
            Ok(None) if done > 0 => done as libc::ssize_t,
            Ok(None) => -libc::EAGAIN as libc::ssize_t,
            Err(_) if done > 0 => done as libc::ssize_t,
            Err(e) => e as libc::ssize_t,
        }
    })
}

/// `utp_managed_flush`: waits until the peer has acknowledged every byte written on `s`, and
/// our FIN too after `utp_shutdown(s, SHUT_WR)`. Returns 0 then; `-EAGAIN` if `timeout_ms`
/// passes first (at once for 0; negative waits without limit); the connection's error
/// (`-ECONNRESET`, `-ETIMEDOUT`, ...) if it fails meanwhile. Call it before
/// `utp_managed_destroy` or exiting when the data must arrive: a destroyed context gives
/// unacknowledged data only a short grace.
///
/// # Safety
/// `s` must be NULL or a socket of this library.
#[no_mangle]
pub unsafe extern "C" fn utp_managed_flush(s: *mut UtpSocket, timeout_ms: c_int) -> c_int {
    guard(-libc::EINVAL, || {
        let Some(m) = of_socket(s) else {
            return -libc::EINVAL;
        };
        let outcome = retry(&m, timeout_ms, |_| {
            // SAFETY: lock held; `s` is NULL-checked and marker-checked by `live`.
            unsafe {
                let Some(sock) = live(s) else {
                    return Some(-libc::ENOTCONN);
                };
                let Some(h) = sock.handle else {
                    return Some(-libc::ENOTCONN);
                };
                match (*sock.ctx).endpoint.poll_flushed(h) {
                    Ok(true) => Some(0),
                    Ok(false) => None,
                    Err(e) => Some(stream_errno(e, s)),
                }
            }
        });
        match outcome {
            Ok(Some(code)) => code,
            Ok(None) => -libc::EAGAIN,
            Err(e) => e,
        }
    })
}

/// `utp_managed_progress`: how much of what was written on `s` the peer acknowledged. Stores
/// the stream bytes the application wrote (every byte `utp_write`, `utp_writev` or
/// `utp_managed_write` took) in `*written` and the prefix of them the peer acknowledged in
/// `*acked` (either pointer may be NULL). Returns 0, `-EINVAL` for NULL, `-ENOTCONN` for a
/// socket never connected, destroyed or already released. Works on any socket
/// of this library, managed or not, and stays readable after the connection failed (a reset,
/// a timeout) until the application closes it: `written - acked` bytes may not have arrived.
///
/// # Safety
/// `s` must be NULL or a socket of this library; `written` and `acked` must each be NULL or
/// point to writable memory.
#[no_mangle]
pub unsafe extern "C" fn utp_managed_progress(
    s: *mut UtpSocket,
    written: *mut u64,
    acked: *mut u64,
) -> c_int {
    crate::ffi::boundary::guard_socket(s, -libc::EINVAL, || {
        // SAFETY: forwarded contract: `s` is NULL or ours (`live` checks its marker); the
        // context of a live socket is live; the borrows end with the statement.
        let stats = unsafe {
            if s.is_null() {
                return -libc::EINVAL;
            }
            let Some(sock) = live(s) else {
                return -libc::ENOTCONN;
            };
            let Some(h) = sock.handle else {
                return -libc::ENOTCONN;
            };
            (*sock.ctx).endpoint.connection_stats(h)
        };
        let Ok(stats) = stats else {
            return -libc::ENOTCONN;
        };
        // SAFETY: each pointer is NULL-checked and writable per the contract.
        unsafe {
            if !written.is_null() {
                *written = stats.bytes_written;
            }
            if !acked.is_null() {
                *acked = stats.bytes_acked;
            }
        }
        0
    })
}

/// `utp_managed_set_udp_handler`: `handler(user, buf, len, from, fromlen)` receives every
/// datagram on the context's socket that is not uTP (a DHT sharing the port, say), on the
/// runtime's thread with the context's lock held. NULL removes it.
///
/// # Safety
/// `ctx` must be NULL or a context of this library; `handler` must be NULL or a valid function
/// that stays callable, with `user` valid for it, until replaced or the context is destroyed.
#[no_mangle]
pub unsafe extern "C" fn utp_managed_set_udp_handler(
    ctx: *mut UtpContext,
    handler: utp_managed_udp_handler,
    user: *mut c_void,
) -> c_int {
    guard(-libc::EINVAL, || {
        let Some(m) = of_context(ctx) else {
            return -libc::EINVAL;
        };
        *m.handler.lock() = (handler, user as usize);
        0
    })
}

/// `utp_managed_sendto`: sends a datagram that is not uTP from the context's socket. The
/// bytes sent, or `-errno`.
///
/// # Safety
/// `ctx` must be NULL or a context of this library; `buf` must hold `len` bytes; `addr` must
/// hold `addrlen` bytes.
#[no_mangle]
pub unsafe extern "C" fn utp_managed_sendto(
    ctx: *mut UtpContext,
    buf: *const c_void,
    len: usize,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
) -> libc::ssize_t {
    guard(-libc::EINVAL as libc::ssize_t, || {
        let Some(m) = of_context(ctx) else {
            return -libc::EINVAL as libc::ssize_t;
        };
        // SAFETY: forwarded contract.
        let Some(to) = (unsafe { sockaddr::from_c(addr, addrlen) }) else {
            return -libc::EINVAL as libc::ssize_t;
        };
        if buf.is_null() && len > 0 {
            return -libc::EINVAL as libc::ssize_t;
        }
        let data = if len == 0 {
            &[][..]
        } else {
            // SAFETY: the caller guarantees `len` readable bytes.
            unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) }
        };
        match m.io.socket.send_to(data, to) {
            Ok(n) => n as libc::ssize_t,
            Err(e) => -e.raw_os_error().unwrap_or(libc::EIO) as libc::ssize_t,
        }
    })
}

/// `utp_managed_set_threads`: the number of runtime threads for managed contexts created
/// while none exists (a running runtime keeps its size); 0 restores the default, the number
/// of CPUs (or the `RUTP_THREADS` environment variable). `-EINVAL` above 256.
#[no_mangle]
pub extern "C" fn utp_managed_set_threads(threads: c_int) -> c_int {
    guard(-libc::EINVAL, || {
        let Ok(n) = usize::try_from(threads) else {
            return -libc::EINVAL;
        };
        match Runtime::set_default_threads(n) {
            Ok(()) => 0,
            Err(_) => -libc::EINVAL,
        }
    })
}
