//! Calling the application: the clock and random callbacks, and the dispatch loop that turns
//! what the engine produced (datagrams, events, received data) into libutp's callbacks.
//!
//! Every API entry point that feeds the engine ends with [`dispatch`]. Each step takes a short
//! `&mut UtpContext` borrow to get the next thing to do, drops it, then calls C. A callback may
//! re-enter the library; the nested call only sends the datagrams it caused, and the outer loop
//! delivers every other callback after the running one returns, so callbacks never nest and
//! arrive in order. Sockets whose connection closed are freed by the outermost loop, after
//! `UTP_STATE_DESTROYING`, so no callback ever sees a socket freed under it.

use super::context::{UtpContext, SEND_BUFFER};
use super::sockaddr;
use super::socket::UtpSocket;
use super::types::callback::*;
use super::types::*;
use crate::proto::{ConnectionHandle, Event, Instant, StreamError};
use core::ffi::c_int;
use std::net::SocketAddr;

/// libutp's overhead-statistics types (an internal enum of libutp, API notes section 3.2).
mod overhead {
    pub const CONNECT: i32 = 1;
    pub const CLOSE: i32 = 2;
    pub const ACK: i32 = 3;
    pub const HEADER: i32 = 4;
}

/// IPv4 + UDP header bytes, and IPv6 (Teredo-sized, as libutp) + UDP.
const OVERHEAD_V4: usize = 28;
const OVERHEAD_V6: usize = 76;

/// Arguments for callback `kind`, everything else zeroed.
pub fn args(ctx: *mut UtpContext, socket: *mut UtpSocket, kind: c_int) -> utp_callback_arguments {
    utp_callback_arguments {
        context: ctx,
        socket,
        len: 0,
        flags: 0,
        callback_type: kind,
        buf: core::ptr::null(),
        u1: CallbackArgsU1 {
            address: core::ptr::null(),
        },
        u2: CallbackArgsU2 { address_len: 0 },
    }
}

/// Calls callback `args.callback_type` if the application set it.
///
/// # Safety
/// `ctx` must be live, and no Rust borrow of it may be alive.
pub unsafe fn invoke(ctx: *mut UtpContext, mut a: utp_callback_arguments) -> Option<u64> {
    let index = usize::try_from(a.callback_type).ok()?;
    // SAFETY: `ctx` is live; this reads one field without keeping a reference.
    let cb = unsafe { (*ctx).callbacks.get(index).copied().flatten() }?;
    // SAFETY: a C function pointer the application registered for this purpose, called with
    // a valid argument struct that outlives the call.
    Some(unsafe { cb(&mut a) })
}

/// The current time: `UTP_GET_MICROSECONDS` if set, else `UTP_GET_MILLISECONDS`, else the
/// monotonic clock; never earlier than the last reading.
///
/// # Safety
/// As [`invoke`].
pub unsafe fn now(ctx: *mut UtpContext) -> Instant {
    super::logging::set_current(ctx);
    // SAFETY: forwarded contract.
    let micros = unsafe {
        invoke(ctx, args(ctx, core::ptr::null_mut(), UTP_GET_MICROSECONDS)).or_else(|| {
            invoke(ctx, args(ctx, core::ptr::null_mut(), UTP_GET_MILLISECONDS)).map(|ms| ms * 1000)
        })
    }
    .unwrap_or_else(crate::runtime::clock::monotonic_micros);
    // SAFETY: `ctx` is live and no borrow is alive.
    let c = unsafe { &mut *ctx };
    c.last_now = c.last_now.max(micros);
    Instant::from_micros(c.last_now)
}

/// One thing for the dispatch loop to do.
enum Step {
    Idle,
    Send {
        buf: Vec<u8>,
        len: usize,
        to: SocketAddr,
        flags: u32,
        socket: *mut UtpSocket,
    },
    /// A managed context's datagram, already in its socket's send batch (or sent, for a
    /// path-MTU probe): only the statistics callback is left. `kind` is its first byte.
    Queued {
        len: usize,
        kind: u8,
        socket: *mut UtpSocket,
    },
    Accept {
        socket: *mut UtpSocket,
        addr: SocketAddr,
    },
    /// A payload the engine delivered in place (see [`UtpContext::in_place`]).
    ReadInPlace {
        data: *const u8,
        len: usize,
        socket: *mut UtpSocket,
        handle: ConnectionHandle,
    },
    Read {
        buf: Vec<u8>,
        len: usize,
        socket: *mut UtpSocket,
        handle: ConnectionHandle,
    },
    State {
        socket: *mut UtpSocket,
        state: c_int,
    },
    Connect {
        socket: *mut UtpSocket,
    },
    Error {
        socket: *mut UtpSocket,
        code: c_int,
    },
    Destroy {
        socket: *mut UtpSocket,
    },
}

impl UtpContext {
    fn socket_of(&self, h: ConnectionHandle) -> *mut UtpSocket {
        self.sockets
            .get(&h)
            .copied()
            .unwrap_or(core::ptr::null_mut())
    }

    /// Decides the next step. Datagrams first (as libutp sends from inside the call that
    /// caused them), then pending data for `UTP_ON_READ`, accepts, and engine events.
    fn next_step(&mut self, now: Instant, outermost: bool) -> Step {
        // A payload delivered in place comes first: it precedes the connection's buffered data,
        // and the ACK about to go out then advertises the window the application's reply to
        // `UTP_GET_READ_BUFFER_SIZE` leaves (as libutp reads before it acknowledges).
        if let Some((handle, data, len)) = self.in_place.take_if(|_| outermost) {
            return Step::ReadInPlace {
                data,
                len,
                socket: self.socket_of(handle),
                handle,
            };
        }
        if let Some(io) = self.managed.as_deref() {
            // Managed: the engine writes straight into the socket's send batch.
            let mut out = io.out.lock();
            if out.room().is_none() {
                io.send_batch(&mut out);
            }
            if let Some(t) = out
                .room()
                .and_then(|room| self.endpoint.poll_transmit(now, room))
            {
                let kind = out.unpushed(t.len).first().copied().unwrap_or(0);
                if t.dont_fragment {
                    // A path-MTU probe goes at once, after the datagrams queued before it.
                    let probe = out.unpushed(t.len).to_vec();
                    drop(out);
                    io.flush();
                    io.send(&probe, t.destination, true);
                } else {
                    out.push(t.len, t.destination);
                }
                return Step::Queued {
                    len: t.len,
                    kind,
                    socket: t
                        .connection
                        .map_or(core::ptr::null_mut(), |h| self.socket_of(h)),
                };
            }
        }
        let mut buf = self.take_buffer(SEND_BUFFER);
        // (A managed context's datagrams were all polled above.)
        let unmanaged = self.managed.is_none();
        if let Some(t) = unmanaged
            .then(|| self.endpoint.poll_transmit(now, &mut buf))
            .flatten()
        {
            let socket = t
                .connection
                .map_or(core::ptr::null_mut(), |h| self.socket_of(h));
            let flags = if t.dont_fragment {
                UTP_UDP_DONTFRAG as u32
            } else {
                0
            };
            return Step::Send {
                buf,
                len: t.len,
                to: t.destination,
                flags,
                socket,
            };
        }
        if !outermost {
            // Inside a callback only datagrams go out (as libutp sends from inside the call).
            // Everything else waits for the outermost loop, so callbacks never nest: an
            // `UTP_ON_READ` cannot start while another is still running.
            self.give_buffer(buf);
            return Step::Idle;
        }
        if let Some(h) = self.reading {
            match self.endpoint.read(h, &mut buf) {
                Ok(n) if n > 0 => {
                    return Step::Read {
                        buf,
                        len: n,
                        socket: self.socket_of(h),
                        handle: h,
                    }
                }
                _ => self.reading = None,
            }
        }
        self.give_buffer(buf);
        if let Some((socket, addr)) = self.pending_accepts.pop_front() {
            return Step::Accept { socket, addr };
        }
        if outermost {
            if let Some(h) = self.pending_destroys.pop_front() {
                if let Some(socket) = self.sockets.remove(&h) {
                    return Step::Destroy { socket };
                }
            }
        }
        while let Some((h, event)) = self.endpoint.poll_event() {
            let socket = self.socket_of(h);
            if socket.is_null() {
                continue;
            }
            // SAFETY: sockets in the table are live allocations; only flags are read.
            let (accepted, closed) = unsafe { ((*socket).accepted, (*socket).closed) };
            match event {
                // `utp_managed_accept` hands out only connections their peer confirmed.
                Event::Confirmed => {
                    if self.half_accepted.remove(&socket) {
                        self.accept_queue.push_back(socket);
                    }
                }
                // Failed before its peer confirmed it (evicted by a SYN flood, or its SYN-ACK
                // met an ICMP error: a spoofed source): released unseen, since it would
                // otherwise hold a place in the backlog and hand the application a dead socket.
                Event::Error(_) if self.half_accepted.remove(&socket) => {
                    // SAFETY: as above; the application never received this socket.
                    unsafe {
                        (*socket).closed = true;
                        (*socket).unseen = true;
                    }
                    let _ = self.endpoint.close(now, h);
                }
                // An accepted socket is writable at once (libutp's acceptor gets nothing until
                // the initiator's first data: API notes section 4.3).
                Event::Connected if accepted => {
                    return Step::State {
                        socket,
                        state: UTP_STATE_WRITABLE,
                    }
                }
                Event::Connected if self.callbacks[UTP_ON_CONNECT as usize].is_some() => {
                    return Step::Connect { socket }
                }
                Event::Connected => {
                    return Step::State {
                        socket,
                        state: UTP_STATE_CONNECT,
                    }
                }
                Event::Readable if !closed && !self.pull_reads() => {
                    self.reading = Some(h);
                    return self.next_step(now, outermost);
                }
                // libutp has no such callback; nothing in the C API asks for it.
                // libutp reports an accepted socket at its SYN (UTP_ON_ACCEPT).
                Event::Readable | Event::Flushed => {}
                Event::Writable => {
                    return Step::State {
                        socket,
                        state: UTP_STATE_WRITABLE,
                    }
                }
                Event::Eof => {
                    return Step::State {
                        socket,
                        state: UTP_STATE_EOF,
                    }
                }
                Event::Error(e) => {
                    // SAFETY: as above; the socket is live and no other borrow of it exists.
                    unsafe { (*socket).error = Some(e) };
                    let code = match e {
                        crate::proto::ConnectionError::Refused => UTP_ECONNREFUSED,
                        crate::proto::ConnectionError::Reset => UTP_ECONNRESET,
                        crate::proto::ConnectionError::TimedOut => UTP_ETIMEDOUT,
                        // libutp has no closer code: the peer sees a vanished connection.
                        crate::proto::ConnectionError::Evicted => UTP_ECONNRESET,
                    };
                    return Step::Error { socket, code };
                }
                Event::Closed => {
                    self.pending_destroys.push_back(h);
                    if outermost {
                        return self.next_step(now, outermost);
                    }
                }
            }
        }
        Step::Idle
    }
}

/// Packet type of an encoded datagram, from the high nibble of its first byte (BEP 29).
fn overhead_type(first_byte: u8) -> i32 {
    match first_byte >> 4 {
        4 => overhead::CONNECT,
        1 | 3 => overhead::CLOSE,
        2 => overhead::ACK,
        _ => overhead::HEADER,
    }
}

/// `UTP_ON_OVERHEAD_STATISTICS` for a datagram of `len` bytes sent on `socket` (NULL: none, as
/// for a RESET to an unknown connection), whose first byte is `first_byte`.
///
/// # Safety
/// As [`dispatch`]; `socket` must be NULL or a live socket of `ctx`.
unsafe fn report_sent(ctx: *mut UtpContext, socket: *mut UtpSocket, len: usize, first_byte: u8) {
    // SAFETY: live context; one field read.
    if socket.is_null()
        || unsafe { (*ctx).callbacks[UTP_ON_OVERHEAD_STATISTICS as usize] }.is_none()
    {
        return;
    }
    // SAFETY: per the contract; no borrow is alive during the callback.
    unsafe {
        let mut o = args(ctx, socket, UTP_ON_OVERHEAD_STATISTICS);
        o.u1.send = 1;
        o.len = len + (*socket).udp_overhead;
        o.u2.type_ = overhead_type(first_byte);
        invoke(ctx, o);
    }
}

/// UDP/IP overhead towards `addr`, libutp's defaults.
pub fn udp_overhead(addr: SocketAddr) -> usize {
    if addr.is_ipv4() {
        OVERHEAD_V4
    } else {
        OVERHEAD_V6
    }
}

/// Runs callbacks until the engine has nothing more to say.
///
/// # Safety
/// `ctx` must be live, and no Rust borrow of it (or of any of its sockets) may be alive.
pub unsafe fn dispatch(ctx: *mut UtpContext, now: Instant) {
    // SAFETY: per the contract; each block below holds its borrow only while it runs.
    // Outermost: the first loop of the outermost call (the managed worker's loop counts as one).
    // A call made from a callback, even one made before its call's loop started (from a clock
    // or MTU callback), only sends.
    let outermost = unsafe {
        (*ctx).depth += 1;
        (*ctx).depth == 1 && (*ctx).entered <= 1
    };
    loop {
        // SAFETY: no borrow is alive here.
        unsafe { forward_logs(ctx) };
        // SAFETY: no other borrow is alive here.
        let step = unsafe { (*ctx).next_step(now, outermost) };
        // SAFETY (for every arm): callbacks run with no Rust borrow alive; sockets named by
        // steps are live until their Destroy step, which only this (outermost) loop runs.
        match step {
            Step::Idle => break,
            Step::Send {
                buf,
                len,
                to,
                flags,
                socket,
            } => unsafe {
                let addr = sockaddr::to_c(to);
                let mut a = args(ctx, core::ptr::null_mut(), UTP_SENDTO);
                a.buf = buf.as_ptr();
                a.len = len;
                a.flags = flags;
                a.u1.address = addr.as_ptr();
                a.u2.address_len = addr.len();
                invoke(ctx, a);
                report_sent(ctx, socket, len, buf.first().copied().unwrap_or(0));
                (*ctx).give_buffer(buf);
            },
            Step::Queued { len, kind, socket } => unsafe { report_sent(ctx, socket, len, kind) },
            Step::Accept { socket, addr } => unsafe {
                if (*ctx).pull_accepts() {
                    // A managed context without UTP_ON_ACCEPT: utp_managed_accept takes it
                    // once its peer confirms it (Event::Confirmed).
                    (*ctx).half_accepted.insert(socket);
                    continue;
                }
                let c = sockaddr::to_c(addr);
                let mut a = args(ctx, socket, UTP_ON_ACCEPT);
                a.u1.address = c.as_ptr();
                a.u2.address_len = c.len();
                invoke(ctx, a);
            },
            Step::ReadInPlace {
                data,
                len,
                socket,
                handle,
            } => unsafe {
                // A statistics callback between the datagram and this loop may have closed it.
                if socket.is_null() || (*socket).closed {
                    continue;
                }
                let mut a = args(ctx, socket, UTP_ON_READ);
                a.buf = data;
                a.len = len;
                invoke(ctx, a);
                update_read_buffer(ctx, socket, handle);
            },
            Step::Read {
                buf,
                len,
                socket,
                handle,
            } => unsafe {
                let mut a = args(ctx, socket, UTP_ON_READ);
                a.buf = buf.as_ptr();
                a.len = len;
                invoke(ctx, a);
                (*ctx).give_buffer(buf);
                update_read_buffer(ctx, socket, handle);
            },
            Step::State { socket, state } => unsafe {
                let mut a = args(ctx, socket, UTP_ON_STATE_CHANGE);
                a.u1.state = state;
                invoke(ctx, a);
            },
            Step::Connect { socket } => unsafe {
                invoke(ctx, args(ctx, socket, UTP_ON_CONNECT));
            },
            Step::Error { socket, code } => unsafe {
                let mut a = args(ctx, socket, UTP_ON_ERROR);
                a.u1.error_code = code;
                invoke(ctx, a);
            },
            Step::Destroy { socket } => unsafe {
                if !(*socket).unseen {
                    let mut a = args(ctx, socket, UTP_ON_STATE_CHANGE);
                    a.u1.state = UTP_STATE_DESTROYING;
                    invoke(ctx, a);
                }
                (*ctx).bury(socket);
            },
        }
    }
    // SAFETY: no other borrow is alive here.
    unsafe {
        forward_logs(ctx);
        (*ctx).refresh_stats();
        (*ctx).depth -= 1;
        if (*ctx).depth == 0 {
            super::logging::set_current(core::ptr::null_mut());
            // A managed context's datagrams of this call go out together.
            if let Some(io) = (*ctx).managed.as_ref() {
                io.flush();
            }
        }
    }
}

/// Hands queued log records to `UTP_LOG`, for the levels the context enabled.
///
/// # Safety
/// As [`dispatch`].
unsafe fn forward_logs(ctx: *mut UtpContext) {
    for (level, line) in super::logging::take_pending() {
        // SAFETY: live context; one field read.
        if unsafe { (*ctx).log_levels[level] } {
            let mut a = args(ctx, core::ptr::null_mut(), UTP_LOG);
            a.buf = line.as_ptr().cast();
            a.len = line.as_bytes().len();
            // SAFETY: forwarded contract; `line` outlives the call.
            unsafe { invoke(ctx, a) };
        }
    }
}

/// Asks the application how much received data it still holds (`UTP_GET_READ_BUFFER_SIZE`)
/// and shrinks the advertised window by that much.
///
/// # Safety
/// As [`dispatch`]; `socket` must be NULL or a socket of `ctx`.
pub unsafe fn update_read_buffer(
    ctx: *mut UtpContext,
    socket: *mut UtpSocket,
    handle: ConnectionHandle,
) {
    // SAFETY: forwarded contract.
    let Some(held) = (unsafe { invoke(ctx, args(ctx, socket, UTP_GET_READ_BUFFER_SIZE)) }) else {
        return;
    };
    let held = usize::try_from(held).unwrap_or(usize::MAX);
    // SAFETY: no other borrow is alive here.
    let result = unsafe { (*ctx).endpoint.set_external_buffered(handle, held) };
    if let Err(StreamError::UnknownConnection) = result {
        log::trace!("read-buffer size for a closed connection ignored");
    }
}
