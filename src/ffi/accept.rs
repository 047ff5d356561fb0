//! Incoming connections and per-socket engine options: the firewall and accept callbacks, and
//! the MTU callback that sizes a connection's packets.

use super::context::{UtpContext, DEFAULT_TARGET_DELAY};
use super::dispatch::{args, invoke, udp_overhead};
use super::managed::MANAGED_BACKLOG;
use super::sockaddr;
use super::socket::UtpSocket;
use super::types::callback::*;
use crate::proto::config::{MAX_PACKET_SIZE, MIN_PACKET_SIZE};
use crate::proto::{ConnectionOptions, Incoming, Instant};
use core::ffi::c_int;
use core::time::Duration;
use std::net::SocketAddr;

/// Engine options for a socket: its buffer and target-delay options, and the datagram size
/// `UTP_GET_UDP_MTU` reports for `peer` (when the application installed it).
///
/// # Safety
/// `ctx` must be live with no borrow alive; `socket` must be NULL or a socket of `ctx`.
pub unsafe fn options_for(
    ctx: *mut UtpContext,
    socket: *mut UtpSocket,
    sndbuf: c_int,
    rcvbuf: c_int,
    target_delay: c_int,
    peer: SocketAddr,
) -> ConnectionOptions {
    let addr = sockaddr::to_c(peer);
    let mut a = args(ctx, socket, UTP_GET_UDP_MTU);
    a.u1.address = addr.as_ptr();
    a.u2.address_len = addr.len();
    // SAFETY: forwarded contract. libutp truncates the answer to 16 bits.
    let mtu = unsafe { invoke(ctx, a) }.map(|v| usize::from(v as u16));
    let mut o = args(ctx, socket, UTP_GET_UDP_OVERHEAD);
    o.u1.address = addr.as_ptr();
    o.u2.address_len = addr.len();
    // SAFETY: forwarded contract.
    let overhead = unsafe { invoke(ctx, o) }.map_or(udp_overhead(peer), |v| usize::from(v as u16));
    if !socket.is_null() {
        // SAFETY: `socket` is a live socket of `ctx` with no borrow alive.
        unsafe { (*socket).udp_overhead = overhead };
    }
    // A non-positive target means libutp's default (API notes section 7).
    let target = if target_delay <= 0 {
        DEFAULT_TARGET_DELAY
    } else {
        target_delay
    };
    ConnectionOptions {
        send_buffer: usize::try_from(sndbuf).ok().filter(|&v| v > 0),
        recv_buffer: usize::try_from(rcvbuf).ok().filter(|&v| v > 0),
        target_delay: Some(Duration::from_micros(target as u64)),
        max_packet_size: mtu.filter(|m| (MIN_PACKET_SIZE..=MAX_PACKET_SIZE).contains(m)),
    }
}

/// A connection request: accepted when `UTP_ON_ACCEPT` is installed (or, on a managed context,
/// `utp_managed_accept` has room in its queue) and `UTP_ON_FIREWALL` (if installed) returns 0;
/// otherwise ignored silently, as libutp does. The SYN-ACK is sent
/// and `UTP_ON_ACCEPT` fired by the next dispatch.
///
/// # Safety
/// `ctx` must be live with no borrow alive.
pub unsafe fn incoming(ctx: *mut UtpContext, now: Instant, request: Incoming) {
    // SAFETY: live context; fields read, the borrow ends with the block.
    let wanted = unsafe {
        let c = &*ctx;
        let pull = c.pull_accepts();
        !c.closing
            && (c.callbacks[UTP_ON_ACCEPT as usize].is_some() || pull)
            // Unconfirmed connections are bounded by the engine's half-open limit instead,
            // so a SYN flood cannot fill the backlog (see `UtpContext::half_accepted`).
            && !(pull && c.accept_queue.len() + c.pending_accepts.len() >= MANAGED_BACKLOG)
    };
    if !wanted {
        return;
    }
    let remote = request.remote();
    let addr = sockaddr::to_c(remote);
    let mut a = args(ctx, core::ptr::null_mut(), UTP_ON_FIREWALL);
    a.u1.address = addr.as_ptr();
    a.u2.address_len = addr.len();
    // SAFETY: forwarded contract.
    if unsafe { invoke(ctx, a) }.is_some_and(|verdict| verdict != 0) {
        return;
    }
    // SAFETY: live context; fields read, then the borrow ends.
    let (sndbuf, rcvbuf, target) = unsafe { ((*ctx).sndbuf, (*ctx).rcvbuf, (*ctx).target_delay) };
    let mut fresh = UtpSocket::new(ctx, sndbuf, rcvbuf, target);
    // Marked accepted and connected to its peer before the MTU callbacks see it, so that a
    // utp_connect on it from there is refused.
    fresh.accepted = true;
    fresh.peer = Some(remote);
    let socket = Box::into_raw(Box::new(fresh));
    super::managed::adopt_socket(ctx, socket);
    // SAFETY: `socket` is ours and live; no borrow alive during the MTU callback.
    let options = unsafe { options_for(ctx, socket, sndbuf, rcvbuf, target, remote) };
    // SAFETY: `socket` is still allocated (a utp_close from the callbacks moves it to the
    // graveyard, which then owns it: the request is dropped).
    if unsafe { super::socket::live(socket) }.is_none() {
        return;
    }
    // SAFETY: live context; the borrow ends with the block.
    let accepted = unsafe { (*ctx).endpoint.accept_with(now, request, &options) };
    match accepted {
        Ok(handle) => {
            // SAFETY: `socket` is a fresh allocation of ours; the context borrow is short.
            unsafe {
                (*socket).handle = Some(handle);
                (*ctx).sockets.insert(handle, socket);
                (*ctx).pending_accepts.push_back((socket, remote));
            }
        }
        Err(e) => {
            log::debug!("connection from {remote} not accepted: {e}");
            super::managed::forget_socket(socket);
            // SAFETY: never published to the application.
            drop(unsafe { Box::from_raw(socket) });
        }
    }
}
