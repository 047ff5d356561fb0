//! `utp_context`: an engine endpoint with libutp's callbacks, options and socket table.
//!
//! The context is driven through raw pointers. A `&mut UtpContext` lives only inside short
//! blocks that never call back into C; callbacks run from [`super::dispatch`] with no Rust
//! borrow alive, so they may call any API function, including ones that free sockets.

use super::managed::ManagedIo;
use super::socket::{UtpSocket, SOCKET_DEAD};
use super::types::callback::{UTP_ARRAY_SIZE, UTP_ON_ACCEPT, UTP_ON_READ};
use super::types::{utp_callback_t, utp_context_stats};
use crate::proto::{ConnectionHandle, Endpoint, HandleMap};
use core::ffi::{c_int, c_void};
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

/// Marker of a live context.
pub const CONTEXT_ALIVE: u64 = 0x7574_705f_6374_7874; // "utp_ctxt"

/// Freed sockets kept readable so that calls on them are refused rather than undefined.
const GRAVEYARD: usize = 1024;

/// Largest datagram handed to `UTP_SENDTO`.
pub const SEND_BUFFER: usize = 65_536;

/// libutp's default `UTP_SNDBUF` and `UTP_RCVBUF` (API notes section 2, `utp_init`).
pub const DEFAULT_BUFFER: c_int = 1024 * 1024;
/// libutp's default `UTP_TARGET_DELAY` in microseconds.
pub const DEFAULT_TARGET_DELAY: c_int = 100_000;

/// One `utp_context`.
pub struct UtpContext {
    /// [`CONTEXT_ALIVE`] while usable.
    pub magic: u64,
    /// The engine.
    pub endpoint: Endpoint,
    /// Callback table, indexed by libutp's callback numbers.
    pub callbacks: [Option<utp_callback_t>; UTP_ARRAY_SIZE as usize],
    /// The application's pointer.
    pub userdata: *mut c_void,
    /// `UTP_LOG_NORMAL`, `UTP_LOG_MTU`, `UTP_LOG_DEBUG`.
    pub log_levels: [bool; 3],
    /// Context-wide `UTP_SNDBUF`, copied into new sockets.
    pub sndbuf: c_int,
    /// Context-wide `UTP_RCVBUF`, copied into new sockets.
    pub rcvbuf: c_int,
    /// Context-wide `UTP_TARGET_DELAY`, copied into new sockets.
    pub target_delay: c_int,
    /// Sockets bound to engine connections.
    pub sockets: HandleMap<*mut UtpSocket>,
    /// Sockets created and not connected yet (freed by `utp_destroy`, unlike libutp).
    pub unconnected: HashSet<*mut UtpSocket>,
    /// Destroyed sockets still allocated, oldest first.
    pub graveyard: VecDeque<*mut UtpSocket>,
    /// Accepted sockets whose `UTP_ON_ACCEPT` is still to fire.
    pub pending_accepts: VecDeque<(*mut UtpSocket, SocketAddr)>,
    /// Connections whose `Closed` arrived while a callback was running: destroyed by the
    /// outermost dispatch, so no socket is freed under a callback that uses it.
    pub pending_destroys: VecDeque<ConnectionHandle>,
    /// The connection whose data is being delivered through `UTP_ON_READ`.
    pub reading: Option<ConnectionHandle>,
    /// A payload the engine delivered in place during the running `utp_process_udp`: its
    /// connection and the bytes inside the caller's datagram, handed to `UTP_ON_READ` by that
    /// call's dispatch loop before anything else (never kept past the call).
    pub in_place: Option<(ConnectionHandle, *const u8, usize)>,
    /// Datagram and read buffers for callbacks, reused.
    pub buffers: Vec<Vec<u8>>,
    /// Storage behind `utp_get_context_stats`.
    pub stats: utp_context_stats,
    /// Last time given to the engine, in µs (time never goes backwards).
    pub last_now: u64,
    /// Nesting depth of dispatch loops (callbacks calling back in).
    pub depth: u32,
    /// Library calls on this context running on the stack (a callback's calls nest inside the
    /// call that runs it); counted by the guards of [`super::boundary`].
    pub entered: u32,
    /// `utp_destroy` was called while `entered` was not 0 (from a callback): the context is
    /// destroyed when the outermost call returns, not under the calls still using it.
    pub destroy_requested: bool,
    /// For a managed context (`utp_managed_create`): the runtime's UDP socket, which sends
    /// instead of `UTP_SENDTO`.
    pub managed: Option<Arc<ManagedIo>>,
    /// Managed context without `UTP_ON_ACCEPT`: accepted sockets the peer has confirmed
    /// (`Event::Confirmed`), waiting for `utp_managed_accept`, in the order of confirmation.
    pub accept_queue: VecDeque<*mut UtpSocket>,
    /// Managed context without `UTP_ON_ACCEPT`: accepted sockets the peer has not confirmed
    /// yet (possibly a SYN flood's). They move to `accept_queue` when confirmed; one that fails
    /// first is released inside the library, never handed out. Bounded by the engine's
    /// half-open limit (`Config::max_half_open`), which evicts the oldest.
    pub half_accepted: HashSet<*mut UtpSocket>,
    /// Context being destroyed (managed: from `utp_managed_destroy` on; any: while
    /// `utp_destroy` delivers `UTP_STATE_DESTROYING`): no new connections.
    pub closing: bool,
}

impl UtpContext {
    /// A context around `endpoint` with libutp's defaults.
    pub fn new(endpoint: Endpoint) -> Self {
        UtpContext {
            magic: CONTEXT_ALIVE,
            endpoint,
            callbacks: [None; UTP_ARRAY_SIZE as usize],
            userdata: core::ptr::null_mut(),
            log_levels: [false; 3],
            sndbuf: DEFAULT_BUFFER,
            rcvbuf: DEFAULT_BUFFER,
            target_delay: DEFAULT_TARGET_DELAY,
            sockets: HandleMap::default(),
            unconnected: HashSet::new(),
            graveyard: VecDeque::new(),
            pending_accepts: VecDeque::new(),
            pending_destroys: VecDeque::new(),
            reading: None,
            in_place: None,
            buffers: Vec::new(),
            stats: utp_context_stats::default(),
            last_now: 0,
            depth: 0,
            entered: 0,
            destroy_requested: false,
            managed: None,
            accept_queue: VecDeque::new(),
            half_accepted: HashSet::new(),
            closing: false,
        }
    }

    /// Copies the engine's datagram counters into the struct `utp_get_context_stats` points at,
    /// so a pointer kept by the application reads current values.
    pub fn refresh_stats(&mut self) {
        let s = self.endpoint.stats();
        self.stats._nraw_recv = s.received_by_size;
        self.stats._nraw_send = s.sent_by_size;
    }

    /// Whether received data stays in the engine for `utp_managed_read` (a managed context
    /// without `UTP_ON_READ`) instead of going to the callback.
    pub fn pull_reads(&self) -> bool {
        self.managed.is_some() && self.callbacks[UTP_ON_READ as usize].is_none()
    }

    /// Whether accepted connections queue for `utp_managed_accept` (a managed context without
    /// `UTP_ON_ACCEPT`).
    pub fn pull_accepts(&self) -> bool {
        self.managed.is_some() && self.callbacks[UTP_ON_ACCEPT as usize].is_none()
    }

    /// A buffer from the pool.
    pub fn take_buffer(&mut self, size: usize) -> Vec<u8> {
        let mut b = self.buffers.pop().unwrap_or_default();
        b.resize(size, 0);
        b
    }

    /// Returns a buffer to the pool.
    pub fn give_buffer(&mut self, b: Vec<u8>) {
        if self.buffers.len() < 16 {
            self.buffers.push(b);
        }
    }

    /// Marks `s` destroyed and moves it to the graveyard, freeing the oldest entry beyond the
    /// graveyard's bound.
    ///
    /// # Safety
    /// `s` must be a live socket of this context, not referenced by any Rust borrow.
    pub unsafe fn bury(&mut self, s: *mut UtpSocket) {
        // SAFETY: the caller guarantees `s` is a live allocation of ours with no borrow alive.
        unsafe { (*s).magic = SOCKET_DEAD };
        self.unconnected.remove(&s);
        self.graveyard.push_back(s);
        while self.graveyard.len() > GRAVEYARD {
            if let Some(old) = self.graveyard.pop_front() {
                super::managed::forget_socket(old);
                // SAFETY: graveyard entries came from Box::into_raw and are freed only here
                // or in `free_all`.
                drop(unsafe { Box::from_raw(old) });
            }
        }
    }

    /// Frees every socket still allocated (for `utp_destroy`).
    ///
    /// # Safety
    /// No borrow of any socket may be alive.
    pub unsafe fn free_all(&mut self) {
        let live = self.sockets.drain().map(|(_, s)| s);
        let all: Vec<*mut UtpSocket> = live
            .chain(self.unconnected.drain())
            .chain(self.graveyard.drain(..))
            .collect();
        for s in all {
            super::managed::forget_socket(s);
            // SAFETY: each pointer came from Box::into_raw and appears in exactly one set.
            drop(unsafe { Box::from_raw(s) });
        }
    }
}
