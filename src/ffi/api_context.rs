//! Context-level functions of libutp's API (API notes section 2): init and destroy, callbacks,
//! options, userdata, feeding datagrams and ICMP errors, timers, statistics.

use super::boundary::{guard, guard_context};
use super::context::{UtpContext, CONTEXT_ALIVE};
use super::dispatch::{args, dispatch, invoke, now};
use super::types::callback::*;
use super::types::*;
use super::{accept, sockaddr};
use crate::proto::{Config, DatagramEvent, Endpoint};
use core::ffi::{c_int, c_void};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// The live context behind `ctx`, as a raw pointer, or `None`.
///
/// # Safety
/// `ctx` must be NULL or a pointer returned by `utp_init` and not yet destroyed.
pub unsafe fn live(ctx: *mut UtpContext) -> Option<*mut UtpContext> {
    // SAFETY: per the contract; only the marker is read.
    (!ctx.is_null() && unsafe { (*ctx).magic } == CONTEXT_ALIVE).then_some(ctx)
}

/// A seed from the operating system's randomness (std seeds `RandomState` from it), for
/// contexts whose application installs no `UTP_GET_RANDOM` (libutp uses an unseeded `rand()`).
fn os_seed() -> u64 {
    RandomState::new().hash_one(0x5eed_u64)
}

/// `utp_init`: a new context. Only API version 2 exists; anything else gives NULL.
#[no_mangle]
pub extern "C" fn utp_init(version: c_int) -> *mut UtpContext {
    guard(core::ptr::null_mut(), || {
        if version != 2 {
            return core::ptr::null_mut();
        }
        super::logging::install();
        // In-order data is acknowledged by `utp_issue_deferred_acks` (which libutp applications
        // call after draining their socket) or the delayed-ACK timer, never from inside
        // `utp_process_udp`, as libutp does: one ACK per received batch instead of one per two
        // packets. Out-of-order data, duplicates and FINs are still acknowledged at once.
        let config = Config {
            ack_every: u16::MAX,
            ..Config::default()
        };
        let Ok(endpoint) = Endpoint::new(config, os_seed()) else {
            return core::ptr::null_mut();
        };
        Box::into_raw(Box::new(UtpContext::new(endpoint)))
    })
}

/// `utp_destroy`: `UTP_STATE_DESTROYING` for every socket still alive, then everything is
/// freed (including sockets never connected, which libutp leaks). From inside a callback of
/// the context (libutp: undefined, it frees the context under the running call), the context
/// keeps working until the outermost library call returns, and is destroyed then. A managed
/// context is destroyed as by `utp_managed_destroy` (its connections get to close first).
///
/// # Safety
/// `ctx` must be NULL or a live context; it is invalid afterwards (after the outermost call,
/// when called from a callback).
#[no_mangle]
pub unsafe extern "C" fn utp_destroy(ctx: *mut UtpContext) {
    guard((), || {
        if super::managed::of_context(ctx).is_some() {
            // SAFETY: forwarded contract.
            let code = unsafe { super::managed::api::utp_managed_destroy(ctx) };
            if code != 0 {
                log::error!(
                    "utp_destroy of a managed context refused ({code}): called from a callback"
                );
            }
            return;
        }
        // SAFETY: forwarded contract.
        let Some(ctx) = (unsafe { live(ctx) }) else {
            return;
        };
        // SAFETY: live context; the borrow ends with the block.
        let deferred = unsafe {
            let c = &mut *ctx;
            if c.entered > 0 {
                c.destroy_requested = true;
            }
            c.entered > 0
        };
        if !deferred {
            // SAFETY: live context, no call entered on it, no borrow alive.
            unsafe { destroy_plain(ctx) }
        }
    })
}

/// `utp_destroy` of an unmanaged context (or a managed one whose worker has stopped).
/// While its sockets hear `UTP_STATE_DESTROYING`, the context counts as entered and closing:
/// calls from those callbacks work, but their dispatch only sends datagrams, a nested
/// `utp_destroy` does nothing more, and no connection can start.
///
/// # Safety
/// As `utp_destroy`, with no call entered on the context; for a managed context, its lock
/// must be held.
pub unsafe fn destroy_plain(ctx: *mut UtpContext) {
    // SAFETY: forwarded contract.
    let Some(ctx) = (unsafe { live(ctx) }) else {
        return;
    };
    // SAFETY: live context, no borrow alive while callbacks run; each socket leaves the table
    // before its callback, so it is told once, and stays allocated (graveyard) until the end.
    unsafe {
        (*ctx).entered += 1;
        (*ctx).depth += 1;
        (*ctx).closing = true;
        while let Some(h) = (*ctx).sockets.keys().next().copied() {
            let Some(s) = (*ctx).sockets.remove(&h) else {
                break;
            };
            let mut a = args(ctx, s, UTP_ON_STATE_CHANGE);
            a.u1.state = UTP_STATE_DESTROYING;
            invoke(ctx, a);
            (*ctx).bury(s);
        }
        (*ctx).magic = 0;
        (*ctx).free_all();
        drop(Box::from_raw(ctx));
    }
}

/// `utp_set_callback`: installs (or clears, with NULL) callback `callback_name`.
///
/// # Safety
/// `ctx` must be NULL or live; `proc_` must be NULL or a valid callback.
#[no_mangle]
pub unsafe extern "C" fn utp_set_callback(
    ctx: *mut UtpContext,
    callback_name: c_int,
    proc_: Option<unsafe extern "C" fn(*mut utp_callback_arguments) -> core::ffi::c_ulonglong>,
) {
    guard_context(ctx, (), || {
        // SAFETY: forwarded contract.
        let Some(ctx) = (unsafe { live(ctx) }) else {
            return;
        };
        if let Ok(i) = usize::try_from(callback_name) {
            // SAFETY: live context, no other borrow.
            if let Some(slot) = unsafe { (*ctx).callbacks.get_mut(i) } {
                *slot = proc_;
            }
        }
    })
}

/// `utp_context_set_userdata`: returns the new value, as libutp does.
///
/// # Safety
/// `ctx` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn utp_context_set_userdata(
    ctx: *mut UtpContext,
    userdata: *mut c_void,
) -> *mut c_void {
    guard_context(ctx, core::ptr::null_mut(), || {
        // SAFETY: forwarded contract.
        let Some(ctx) = (unsafe { live(ctx) }) else {
            return core::ptr::null_mut();
        };
        // SAFETY: live context.
        unsafe { (*ctx).userdata = userdata };
        userdata
    })
}

/// `utp_context_get_userdata`.
///
/// # Safety
/// `ctx` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn utp_context_get_userdata(ctx: *mut UtpContext) -> *mut c_void {
    guard_context(ctx, core::ptr::null_mut(), || {
        // SAFETY: forwarded contract; the field is read without keeping a reference.
        unsafe { live(ctx) }.map_or(core::ptr::null_mut(), |c| unsafe { (*c).userdata })
    })
}

/// `utp_context_set_option`: 0, or -1 for NULL, an unknown option, or a buffer size below 1.
///
/// # Safety
/// `ctx` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn utp_context_set_option(
    ctx: *mut UtpContext,
    opt: c_int,
    val: c_int,
) -> c_int {
    guard_context(ctx, -1, || {
        // SAFETY: forwarded contract.
        let Some(ctx) = (unsafe { live(ctx) }) else {
            return -1;
        };
        // SAFETY: live context, no other borrow.
        let c = unsafe { &mut *ctx };
        match opt {
            UTP_LOG_NORMAL | UTP_LOG_MTU | UTP_LOG_DEBUG => {
                c.log_levels[(opt - UTP_LOG_NORMAL) as usize] = val != 0;
                if val != 0 {
                    super::logging::enable();
                }
                0
            }
            UTP_SNDBUF | UTP_RCVBUF if val < 1 => -1,
            UTP_SNDBUF => {
                c.sndbuf = val;
                0
            }
            UTP_RCVBUF => {
                c.rcvbuf = val;
                0
            }
            UTP_TARGET_DELAY => {
                c.target_delay = val;
                0
            }
            _ => -1,
        }
    })
}

/// `utp_context_get_option`: the value (log flags as 0/1), or -1.
///
/// # Safety
/// `ctx` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn utp_context_get_option(ctx: *mut UtpContext, opt: c_int) -> c_int {
    guard_context(ctx, -1, || {
        // SAFETY: forwarded contract.
        let Some(ctx) = (unsafe { live(ctx) }) else {
            return -1;
        };
        // SAFETY: live context, no other borrow.
        let c = unsafe { &*ctx };
        match opt {
            UTP_LOG_NORMAL | UTP_LOG_MTU | UTP_LOG_DEBUG => {
                c_int::from(c.log_levels[(opt - UTP_LOG_NORMAL) as usize])
            }
            UTP_SNDBUF => c.sndbuf,
            UTP_RCVBUF => c.rcvbuf,
            UTP_TARGET_DELAY => c.target_delay,
            _ => -1,
        }
    })
}

/// `utp_process_udp`: feeds one received datagram from `to` (the *source* address, despite
/// the name). 1 if it is uTP (handled, answered or dropped), 0 if not: hand it to others.
///
/// # Safety
/// `ctx` must be NULL or live; `buf` must hold `len` bytes; `to` must hold `tolen` bytes.
#[no_mangle]
pub unsafe extern "C" fn utp_process_udp(
    ctx: *mut UtpContext,
    buf: *const u8,
    len: usize,
    to: *const libc::sockaddr,
    tolen: libc::socklen_t,
) -> c_int {
    guard_context(ctx, 0, || {
        // SAFETY: forwarded contract.
        let Some(ctx) = (unsafe { live(ctx) }) else {
            return 0;
        };
        if buf.is_null() {
            return 0;
        }
        // SAFETY: the caller guarantees `tolen` readable bytes at `to`.
        let Some(from) = (unsafe { sockaddr::from_c(to, tolen) }) else {
            return 0;
        };
        // SAFETY: the caller guarantees `len` readable bytes at `buf`.
        let data = unsafe { core::slice::from_raw_parts(buf, len) };
        // SAFETY: live context, no borrow alive.
        let now = unsafe { now(ctx) };
        // SAFETY: live context; the borrows end with the block. Socket flags are read through
        // the table's live pointers.
        let (event, outermost) = unsafe {
            let c = &mut *ctx;
            // In place only where the dispatch below runs `UTP_ON_READ` at once: the outermost
            // call (callbacks never nest), a socket that pushes its data (not a managed context
            // read with `utp_managed_read`) and is still open.
            let outermost = c.depth == 0 && c.entered <= 1;
            let push = outermost && !c.pull_reads();
            let sockets = &c.sockets;
            let (event, in_place) = c.endpoint.handle_datagram_in_place(now, from, data, |h| {
                push && sockets.get(&h).is_some_and(|&s| !(*s).closed)
            });
            if let Some(p) = in_place {
                c.in_place = Some((p.connection, data[p.offset..].as_ptr(), p.len));
            }
            (event, outermost)
        };
        // SAFETY: live context, no borrow alive during the callback.
        unsafe { report_received(ctx, data) };
        let handled = match event {
            DatagramEvent::NotUtp => 0,
            DatagramEvent::Handled => 1,
            // SAFETY: live context, no borrow alive.
            DatagramEvent::Incoming(incoming) => unsafe {
                accept::incoming(ctx, now, incoming);
                1
            },
        };
        // SAFETY: live context, no borrow alive.
        unsafe {
            dispatch(ctx, now);
            // Delivered by this (outermost) call's dispatch loop; never left pointing into the
            // caller's buffer. (A call nested in a callback sets none and clears none.)
            if outermost {
                debug_assert!((*ctx).in_place.is_none());
                (*ctx).in_place = None;
            }
        }
        handled
    })
}

/// Per-datagram callbacks of the socket a datagram reached: `UTP_ON_OVERHEAD_STATISTICS` with
/// the bytes that were not payload (uTP header and extensions plus UDP/IP), typed as libutp
/// does (a RESET counts as close overhead, anything else as header overhead); and
/// `UTP_ON_DELAY_SAMPLE` with our queuing-delay estimate in ms when the datagram gave the
/// congestion controller a new delay sample.
///
/// # Safety
/// `ctx` must be live with no borrow alive.
unsafe fn report_received(ctx: *mut UtpContext, data: &[u8]) {
    // SAFETY: live context; fields read, then the borrows end.
    let (socket, handle, wants_overhead, wants_delay) = unsafe {
        let wants_overhead = (*ctx).callbacks[UTP_ON_OVERHEAD_STATISTICS as usize].is_some();
        let wants_delay = (*ctx).callbacks[UTP_ON_DELAY_SAMPLE as usize].is_some();
        if !wants_overhead && !wants_delay {
            return;
        }
        let Some(h) = (*ctx).endpoint.last_routed() else {
            return;
        };
        let Some(&s) = (*ctx).sockets.get(&h) else {
            return;
        };
        (s, h, wants_overhead, wants_delay)
    };
    if wants_overhead {
        if let Ok(packet) = crate::proto::packet::Packet::decode(data) {
            let mut a = args(ctx, socket, UTP_ON_OVERHEAD_STATISTICS);
            a.u1.send = 0;
            // SAFETY: `socket` is live (it is in the table); one field read.
            a.len = data.len() - packet.payload.len() + unsafe { (*socket).udp_overhead };
            a.u2.type_ = if packet.header.packet_type == crate::proto::packet::PacketType::Reset {
                2
            } else {
                4
            };
            // SAFETY: forwarded contract.
            unsafe { invoke(ctx, a) };
        }
    }
    if wants_delay {
        // SAFETY: live context and socket; the borrows end with the block.
        let sample = unsafe {
            match (*ctx).endpoint.connection_stats(handle) {
                Ok(st) if st.delay_samples > (*socket).delay_samples_seen => {
                    (*socket).delay_samples_seen = st.delay_samples;
                    Some(st.queuing_delay.as_millis())
                }
                _ => None,
            }
        };
        if let Some(ms) = sample {
            let mut a = args(ctx, socket, UTP_ON_DELAY_SAMPLE);
            a.u1.sample_ms = c_int::try_from(ms).unwrap_or(c_int::MAX);
            // SAFETY: forwarded contract.
            unsafe { invoke(ctx, a) };
        }
    }
}

/// ICMP input shared by the two ICMP functions.
///
/// # Safety
/// As `utp_process_icmp_error`.
unsafe fn icmp(
    ctx: *mut UtpContext,
    buffer: *const u8,
    len: usize,
    to: *const libc::sockaddr,
    tolen: libc::socklen_t,
    mtu: Option<u16>,
) -> c_int {
    // SAFETY: forwarded contract.
    let Some(ctx) = (unsafe { live(ctx) }) else {
        return 0;
    };
    if buffer.is_null() {
        return 0;
    }
    // SAFETY: forwarded contract.
    let Some(remote) = (unsafe { sockaddr::from_c(to, tolen) }) else {
        return 0;
    };
    // SAFETY: the caller guarantees `len` readable bytes.
    let original = unsafe { core::slice::from_raw_parts(buffer, len) };
    // SAFETY: live context, no borrow alive.
    let now = unsafe { now(ctx) };
    // SAFETY: live context; the borrow ends with the statement.
    let matched = unsafe {
        match mtu {
            None => (*ctx).endpoint.handle_icmp_error(now, remote, original),
            // libutp's callers pass the next-hop MTU of the ICMP message, an IP packet size;
            // the engine counts the UDP payload.
            Some(mtu) => match crate::proto::mtu::packet_size_for_mtu(remote, usize::from(mtu)) {
                Some(max) => (*ctx).endpoint.handle_icmp_fragmentation(
                    remote,
                    original,
                    u16::try_from(max).unwrap_or(u16::MAX),
                ),
                None => false,
            },
        }
    };
    // SAFETY: live context, no borrow alive.
    unsafe { dispatch(ctx, now) };
    c_int::from(matched)
}

/// `utp_process_icmp_error`: `buffer` is the quoted uTP packet we sent to `to`. Its connection
/// fails (refused while connecting, reset after). 1 if a connection matched.
///
/// # Safety
/// `ctx` must be NULL or live; `buffer` must hold `len` bytes; `to` must hold `tolen` bytes.
#[no_mangle]
pub unsafe extern "C" fn utp_process_icmp_error(
    ctx: *mut UtpContext,
    buffer: *const u8,
    len: usize,
    to: *const libc::sockaddr,
    tolen: libc::socklen_t,
) -> c_int {
    // SAFETY: forwarded contract.
    guard_context(ctx, 0, || unsafe {
        icmp(ctx, buffer, len, to, tolen, None)
    })
}

/// `utp_process_icmp_fragmentation`: the path to `to` takes at most `next_hop_mtu` bytes.
///
/// # Safety
/// As `utp_process_icmp_error`.
#[no_mangle]
pub unsafe extern "C" fn utp_process_icmp_fragmentation(
    ctx: *mut UtpContext,
    buffer: *const u8,
    len: usize,
    to: *const libc::sockaddr,
    tolen: libc::socklen_t,
    next_hop_mtu: u16,
) -> c_int {
    // SAFETY: forwarded contract.
    guard_context(ctx, 0, || unsafe {
        icmp(ctx, buffer, len, to, tolen, Some(next_hop_mtu))
    })
}

/// `utp_check_timeouts`: runs every timer that is due. No 500 ms gate: call it as often as
/// you want timer resolution.
///
/// # Safety
/// `ctx` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn utp_check_timeouts(ctx: *mut UtpContext) {
    guard_context(ctx, (), || {
        // SAFETY: forwarded contract.
        let Some(ctx) = (unsafe { live(ctx) }) else {
            return;
        };
        // SAFETY: live context; borrows end with each statement.
        unsafe {
            let now = now(ctx);
            (*ctx).endpoint.handle_timeout(now);
            dispatch(ctx, now);
        }
    })
}

/// `utp_issue_deferred_acks`: acknowledges received data now on every socket that owes it.
///
/// # Safety
/// `ctx` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn utp_issue_deferred_acks(ctx: *mut UtpContext) {
    guard_context(ctx, (), || {
        // SAFETY: forwarded contract.
        let Some(ctx) = (unsafe { live(ctx) }) else {
            return;
        };
        // SAFETY: live context; borrows end with each statement.
        unsafe {
            let now = now(ctx);
            (*ctx).endpoint.flush_acks();
            dispatch(ctx, now);
        }
    })
}

/// `utp_get_context_stats`: datagram counts by size; the pointer stays valid with the context.
///
/// # Safety
/// `ctx` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn utp_get_context_stats(ctx: *mut UtpContext) -> *mut utp_context_stats {
    guard_context(ctx, core::ptr::null_mut(), || {
        // SAFETY: forwarded contract.
        let Some(ctx) = (unsafe { live(ctx) }) else {
            return core::ptr::null_mut();
        };
        // SAFETY: live context, no other borrow.
        let c = unsafe { &mut *ctx };
        c.refresh_stats();
        &mut c.stats
    })
}
