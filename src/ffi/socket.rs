//! `utp_socket`: the C handle of one connection.
//!
//! A socket is a heap object the application holds a pointer to. It is created unconnected
//! (`utp_create_socket`), bound to an engine connection by `utp_connect` or by accepting, and
//! freed after `UTP_STATE_DESTROYING`. Freed sockets are kept in a bounded graveyard with a
//! dead marker first, so a call on a recently destroyed socket is detected and refused instead
//! of touching freed memory.

use super::context::UtpContext;
use super::types::utp_socket_stats;
use crate::proto::{ConnectionError, ConnectionHandle};
use core::ffi::{c_int, c_void};
use std::net::SocketAddr;

/// Marker of a live socket.
pub const SOCKET_ALIVE: u64 = 0x7574_705f_736f_636b; // "utp_sock"
/// Marker of a destroyed socket.
pub const SOCKET_DEAD: u64 = 0xdead_736f_636b_dead;

/// One `utp_socket`.
pub struct UtpSocket {
    /// [`SOCKET_ALIVE`] or [`SOCKET_DEAD`].
    pub magic: u64,
    /// The owning context.
    pub ctx: *mut UtpContext,
    /// The engine connection, once connected or accepted.
    pub handle: Option<ConnectionHandle>,
    /// The application's pointer.
    pub userdata: *mut c_void,
    /// Per-socket `UTP_SNDBUF`.
    pub sndbuf: c_int,
    /// Per-socket `UTP_RCVBUF`.
    pub rcvbuf: c_int,
    /// Per-socket `UTP_TARGET_DELAY` (µs).
    pub target_delay: c_int,
    /// Created by accepting an incoming connection.
    pub accepted: bool,
    /// `utp_close` was called.
    pub closed: bool,
    /// The peer.
    pub peer: Option<SocketAddr>,
    /// Storage behind `utp_get_stats`.
    pub stats: utp_socket_stats,
    /// UDP/IP bytes per datagram for overhead statistics (`UTP_GET_UDP_OVERHEAD`).
    pub udp_overhead: usize,
    /// Delay samples already reported through `UTP_ON_DELAY_SAMPLE`.
    pub delay_samples_seen: u64,
    /// How the connection failed, once it has (for the managed API's return values).
    pub error: Option<ConnectionError>,
    /// Released by the library before the application ever saw it (an unconfirmed incoming
    /// connection of `utp_managed_accept`'s queue that failed): no callback names it.
    pub unseen: bool,
}

impl UtpSocket {
    /// A new unconnected socket of `ctx` with the context's option values.
    pub fn new(ctx: *mut UtpContext, sndbuf: c_int, rcvbuf: c_int, target_delay: c_int) -> Self {
        UtpSocket {
            magic: SOCKET_ALIVE,
            ctx,
            handle: None,
            userdata: core::ptr::null_mut(),
            sndbuf,
            rcvbuf,
            target_delay,
            accepted: false,
            closed: false,
            peer: None,
            stats: utp_socket_stats::default(),
            udp_overhead: 0,
            delay_samples_seen: 0,
            error: None,
            unseen: false,
        }
    }
}

/// The live socket behind `s`, or `None` for NULL or a destroyed socket.
///
/// # Safety
/// `s` must be NULL or a pointer this library returned and has not yet freed (freed sockets
/// stay readable in the graveyard for a while, which is what the marker check relies on).
pub unsafe fn live<'a>(s: *mut UtpSocket) -> Option<&'a mut UtpSocket> {
    if s.is_null() {
        return None;
    }
    // SAFETY: per the contract, `s` points at a UtpSocket allocation that is still valid.
    let sock = unsafe { &mut *s };
    (sock.magic == SOCKET_ALIVE && !sock.ctx.is_null()).then_some(sock)
}
