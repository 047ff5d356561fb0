//! The I/O driver of one managed socket, run by a worker of the runtime's thread pool
//! ([`super::pool`]): it feeds datagrams and timeouts to the engine, sends what it produces,
//! and turns engine events into state that application threads wait on.
//!
//! Locking: the engine and the per-connection state live in one `parking_lot::Mutex`
//! ([`Shared::state`]); application threads take it for each operation, and after every input
//! whoever holds it sends the engine's datagrams ([`State::pump`]) and wakes waiters through
//! [`Shared::changed`]. Application threads wake the worker when an operation moved the engine's
//! next deadline earlier ([`WakeGate`]).

use super::clock;
use super::pool::{Driven, Next, WakeGate};
use super::posted::{self, PostedRead};
use super::udp::{IcmpError, IcmpKind, Received, RecvBatch, SendBatch, UdpSocket, HELD_RETRY};
use super::wakers::Wakers;
use crate::proto::packet::HEADER_LEN;
use crate::proto::{ConnectionError, ConnectionHandle, DatagramEvent, Endpoint, Event, HandleMap};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// Largest datagram the driver receives or builds.
pub const DATAGRAM: usize = 65_536;
/// Datagrams read per drive before timers and transmits get their turn (also for managed C
/// contexts). Our own choice.
pub const RECV_BATCH: usize = 256;
/// How long a closing socket waits for its connections to finish (FINs acknowledged).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Handler for datagrams that are not uTP (a DHT sharing the socket, say).
pub type NonUtpHandler = Box<dyn FnMut(&[u8], SocketAddr) + Send>;

/// What application threads know about one connection.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnState {
    /// The handshake completed.
    pub connected: bool,
    /// The peer finished sending.
    pub eof: bool,
    /// The connection failed.
    pub error: Option<ConnectionError>,
    /// The engine released it (`Event::Closed`).
    pub closed: bool,
    /// The application dropped every handle to it.
    pub dropped: bool,
    /// Accepted and confirmed by the peer (`Event::Confirmed`): `accept` may hand it out.
    pub confirmed: bool,
    /// Waiting in the accept queue.
    pub queued: bool,
    /// A blocked reader's buffer, lent to the driver (see [`super::posted`]).
    pub posted: Option<PostedRead>,
}

/// The engine and everything guarded with it.
pub struct State {
    /// The engine.
    pub endpoint: Endpoint,
    /// Connections the application may hold.
    pub conns: HandleMap<ConnState>,
    /// Accepted connections not yet taken by `accept`; only confirmed ones are handed out
    /// (see [`State::take_confirmed`]).
    pub accept_queue: VecDeque<(ConnectionHandle, SocketAddr)>,
    /// Most confirmed connections waiting in `accept_queue`; further SYNs are refused. The
    /// unconfirmed ones are bounded by the engine (`Config::max_half_open`).
    pub backlog: usize,
    /// Confirmed connections in `accept_queue`.
    queued_confirmed: usize,
    /// The socket was dropped: no new connections; the driver exits when all are finished.
    pub closing: bool,
    /// When `closing` began (monotonic µs).
    closing_since: Option<u64>,
    /// The driver has finished: the worker no longer drives this socket.
    pub stopped: bool,
    /// Handler for non-uTP datagrams.
    pub non_utp: Option<NonUtpHandler>,
    /// A local send failure left a datagram unsent; counted for diagnostics.
    pub send_failures: u64,
    /// Tasks of the async API waiting for events (what `Shared::changed` is to threads).
    pub wakers: Wakers,
    /// A datagram sent on its own (a path-MTU probe, or one the batch could not send).
    buf: Vec<u8>,
    /// Datagrams received by one system call.
    rx: RecvBatch,
    /// Datagrams the engine built, sent together by [`flush`].
    out: SendBatch,
    /// A payload went into a posted reader's buffer since the driver last woke the readers.
    filled_posted: bool,
    /// Bytes the driver wrote into posted readers' buffers (for diagnostics and tests).
    pub posted_bytes: u64,
}

/// What the driver and application threads share.
pub struct Shared {
    /// The engine and connection state.
    pub state: Mutex<State>,
    /// Notified whenever connection state changes.
    pub changed: Condvar,
    /// The UDP socket.
    pub socket: UdpSocket,
    /// Wakes the worker that drives this socket.
    pub wake: WakeGate,
}

impl Shared {
    /// After an application thread fed the engine (with the state lock held, as `st`): wakes
    /// the worker if the engine now wants attention sooner than the worker plans to look.
    pub fn wake_if_sooner(&self, st: &mut State) {
        let due = st.endpoint.poll_timeout().map(|t| t.as_micros());
        self.wake.wake_if_sooner(due);
    }
}

impl State {
    /// A state around `endpoint`.
    pub fn new(endpoint: Endpoint, backlog: usize) -> Self {
        State {
            endpoint,
            conns: HandleMap::default(),
            accept_queue: VecDeque::new(),
            backlog,
            queued_confirmed: 0,
            closing: false,
            closing_since: None,
            stopped: false,
            non_utp: None,
            send_failures: 0,
            wakers: Wakers::default(),
            buf: vec![0; DATAGRAM],
            rx: RecvBatch::default(),
            out: SendBatch::default(),
            filled_posted: false,
            posted_bytes: 0,
        }
    }

    /// Sends every datagram the engine has, then applies its events. Returns whether any
    /// connection state changed (waiters should be woken).
    pub fn pump(&mut self, socket: &UdpSocket) -> bool {
        let now = clock::now();
        let mut out = std::mem::take(&mut self.out);
        loop {
            let Some(room) = out.room() else {
                flush(self, socket, &mut out);
                continue;
            };
            let Some(t) = self.endpoint.poll_transmit(now, room) else {
                break;
            };
            if t.dont_fragment {
                // A path-MTU probe goes alone (it needs the socket in probe mode), after the
                // datagrams built before it.
                self.buf[..t.len].copy_from_slice(out.unpushed(t.len));
                flush(self, socket, &mut out);
                send(self, socket, t.len, t.destination, true);
            } else {
                out.push(t.len, t.destination);
            }
        }
        flush(self, socket, &mut out);
        self.out = out;
        let mut changed = false;
        while let Some((h, event)) = self.endpoint.poll_event() {
            changed = true;
            self.wakers.on_event(h, event);
            let queued_unconfirmed = matches!(event, Event::Error(_))
                && self.conns.get(&h).is_some_and(|c| c.queued && !c.confirmed);
            if queued_unconfirmed && self.forget_queued(h) {
                // Failed before the peer confirmed it (evicted by a SYN flood, or its SYN-ACK
                // met an ICMP error: a spoofed source): the application never learns of it.
                continue;
            }
            let Some(c) = self.conns.get_mut(&h) else {
                continue;
            };
            match event {
                Event::Connected => c.connected = true,
                Event::Eof => c.eof = true,
                Event::Error(e) => c.error = Some(e),
                Event::Closed => c.closed = true,
                Event::Confirmed => {
                    c.confirmed = true;
                    if c.queued {
                        self.queued_confirmed += 1;
                        self.wakers.wake_acceptors();
                    }
                }
                Event::Readable | Event::Writable | Event::Flushed => {}
            }
            if c.closed && c.dropped {
                self.conns.remove(&h);
            }
        }
        changed
    }

    /// The first connection of the accept queue the peer has confirmed (`Event::Confirmed`),
    /// taken off the queue. The others wait: they may be a SYN flood's, evicted soon.
    pub fn take_confirmed(&mut self) -> Option<(ConnectionHandle, SocketAddr)> {
        let conns = &self.conns;
        let i = self
            .accept_queue
            .iter()
            .position(|(h, _)| conns.get(h).is_some_and(|c| c.confirmed))?;
        let taken = self.accept_queue.remove(i)?;
        self.queued_confirmed -= 1;
        if let Some(c) = self.conns.get_mut(&taken.0) {
            c.queued = false;
        }
        Some(taken)
    }

    /// Takes `h` off the accept queue and releases it, if it is queued there; returns whether
    /// it was. An unconfirmed connection that failed (evicted under a SYN flood, or refused by
    /// ICMP) would otherwise hold its place in the backlog for good, since `accept` hands out
    /// only confirmed ones.
    fn forget_queued(&mut self, h: ConnectionHandle) -> bool {
        let Some(i) = self.accept_queue.iter().position(|&(q, _)| q == h) else {
            return false;
        };
        self.accept_queue.remove(i);
        if let Some(c) = self.conns.get_mut(&h) {
            c.queued = false;
            if c.confirmed {
                self.queued_confirmed -= 1;
            }
        }
        self.release(h);
        true
    }

    /// The application gave up connection `h` (dropped its last handle, or a connect failed):
    /// close it, and forget it once the engine has released it.
    pub fn release(&mut self, h: ConnectionHandle) {
        let _ = self.endpoint.close(clock::now(), h);
        if let Some(c) = self.conns.get_mut(&h) {
            c.dropped = true;
            if c.closed {
                self.conns.remove(&h);
            }
        }
    }

    /// Feeds the socket's queued ICMP errors to the engine; returns how many there were.
    pub fn drain_errors(&mut self, socket: &UdpSocket) -> usize {
        self.drain_errors_after(socket, None)
    }

    /// [`State::drain_errors`], pairing a local `EMSGSIZE` (which quotes nothing and, over
    /// IPv4, names port 0) with `refused`: the destination and header of the don't-fragment
    /// datagram whose send just failed with it.
    fn drain_errors_after(
        &mut self,
        socket: &UdpSocket,
        refused: Option<(SocketAddr, [u8; HEADER_LEN])>,
    ) -> usize {
        let mut quoted = [0u8; 2048];
        let mut count = 0;
        while let Ok(Some(e)) = socket.recv_error(&mut quoted) {
            count += 1;
            let (destination, original) = match (e.kind, e.len, &refused) {
                (IcmpKind::FragmentationNeeded { .. }, 0, Some((to, header))) => (*to, &header[..]),
                _ => (e.destination, &quoted[..e.len.min(quoted.len())]),
            };
            match e.kind {
                IcmpKind::Unreachable => {
                    self.endpoint
                        .handle_icmp_error(clock::now(), destination, original);
                }
                IcmpKind::FragmentationNeeded { .. } => {
                    let max = IcmpError { destination, ..e }.max_payload();
                    if let Some(max) = max {
                        self.endpoint
                            .handle_icmp_fragmentation(destination, original, max);
                    }
                }
            }
        }
        count
    }

    /// Feeds one received datagram.
    fn datagram(&mut self, now: crate::proto::Instant, from: SocketAddr, data: &[u8]) {
        // A payload is never longer than its datagram: room for `data` is room enough.
        let conns = &self.conns;
        let (event, in_place) = self
            .endpoint
            .handle_datagram_in_place(now, from, data, |h| posted::has_room(conns, h, data.len()));
        if let Some(p) = in_place {
            let filled = self.fill_posted(p.connection, &data[p.offset..p.offset + p.len]);
            debug_assert!(
                filled,
                "the engine delivered in place only where a buffer had room"
            );
            self.filled_posted |= filled;
        }
        match event {
            DatagramEvent::Incoming(incoming) => {
                if self.closing || self.queued_confirmed >= self.backlog {
                    self.endpoint.refuse(now, incoming);
                    return;
                }
                if let Ok(h) = self.endpoint.accept(now, incoming) {
                    let queued = ConnState {
                        queued: true,
                        ..ConnState::default()
                    };
                    self.conns.insert(h, queued);
                    self.accept_queue.push_back((h, from));
                    self.wakers.wake_acceptors();
                }
            }
            DatagramEvent::NotUtp => {
                if let Some(handler) = self.non_utp.as_mut() {
                    handler(data, from);
                }
            }
            DatagramEvent::Handled => {}
        }
    }
}

/// Sends the datagrams of `out` (in order, as few system calls as the kernel allows) and
/// empties it. One the batch cannot send goes through [`send`], which holds it when the kernel
/// has no room and handles ICMP errors; while datagrams are held, the rest queue behind them.
fn flush(st: &mut State, socket: &UdpSocket, out: &mut SendBatch) {
    socket.send_all(out, |data, to| {
        st.buf[..data.len()].copy_from_slice(data);
        send(st, socket, data.len(), to, false);
    });
}

/// Sends one datagram. An error that reports an ICMP message about an earlier datagram
/// (IP_RECVERR) leaves this one unsent: the error queue is drained into the engine and the send
/// retried. A path-MTU probe larger than the interface allows fails with `EMSGSIZE`: the local
/// error is fed to the engine as "fragmentation needed" for this probe, which is not retried
/// (the engine resends its content small).
fn send(st: &mut State, socket: &UdpSocket, len: usize, to: SocketAddr, dont_fragment: bool) {
    for icmp_retries in 0.. {
        match socket.send_or_hold(&st.buf[..len], to, dont_fragment) {
            Ok(()) => return,
            Err(e) if dont_fragment && e.raw_os_error() == Some(libc::EMSGSIZE) => {
                let probe = st.buf[..len].to_vec();
                refused_probe(st, socket, &probe, to, &e);
                return;
            }
            Err(e) if icmp_retries < 2 && st.drain_errors(socket) > 0 => {
                log::debug!("send to {to}: {e}; ICMP errors drained, retrying");
            }
            Err(e) => {
                log::debug!("send to {to} failed: {e}");
                st.send_failures += 1;
                return;
            }
        }
    }
}

/// A path-MTU probe the interface refused with `EMSGSIZE`: the local error is fed to the engine
/// as "fragmentation needed" for this probe (the engine resends its content small).
fn refused_probe(st: &mut State, socket: &UdpSocket, data: &[u8], to: SocketAddr, e: &io::Error) {
    let mut header = [0u8; HEADER_LEN];
    let n = data.len().min(HEADER_LEN);
    header[..n].copy_from_slice(&data[..n]);
    log::debug!("probe of {} bytes to {to}: {e}", data.len());
    st.drain_errors_after(socket, Some((to, header)));
}

/// Sends what the kernel had no room for before; a held probe now refused as too big is
/// reported like a direct one, other failures are counted.
fn flush_held(st: &mut State, socket: &UdpSocket) {
    for (to, dont_fragment, data, e) in socket.flush_held() {
        if dont_fragment && e.raw_os_error() == Some(libc::EMSGSIZE) {
            refused_probe(st, socket, &data, to, &e);
        } else {
            log::debug!("held datagram to {to} failed: {e}");
            st.send_failures += 1;
        }
    }
}

impl Driven for Shared {
    fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    fn drive(&self, readable: bool, error: bool) -> Next {
        let mut st = self.state.lock();
        if readable {
            let mut rx = std::mem::take(&mut st.rx);
            self.socket
                .receive_up_to(&mut rx, RECV_BATCH, |received| match received {
                    Received::Message(datagrams, from) => {
                        let now = clock::now();
                        for data in datagrams {
                            st.datagram(now, from, data);
                        }
                    }
                    Received::Error(e) => {
                        // An ICMP error about an earlier datagram (IP_RECVERR): feed the queue
                        // to the engine, then keep reading.
                        log::debug!("receive error: {e}");
                        st.drain_errors(&self.socket);
                    }
                });
            st.rx = rx;
            if error {
                st.drain_errors(&self.socket);
            }
            if !st.endpoint.config().adaptive_ack {
                // One ACK per receive batch, as libutp's applications do; with adaptive ACKs
                // the engine times them itself.
                st.endpoint.flush_acks();
            }
        }
        flush_held(&mut st, &self.socket);
        st.endpoint.handle_timeout(clock::now());
        // Readers whose posted buffers got data wake too (the engine reports no event for it).
        let filled = std::mem::take(&mut st.filled_posted);
        if st.pump(&self.socket) || filled {
            self.changed.notify_all();
        }
        let now = clock::monotonic_micros();
        let mut due = st.endpoint.poll_timeout().map(|t| t.as_micros());
        if self.socket.has_held() {
            let retry = now + HELD_RETRY.as_micros() as u64;
            due = Some(due.map_or(retry, |d| d.min(retry)));
        }
        if st.closing {
            let started = *st.closing_since.get_or_insert(now);
            // Lingering (already closed) connections only re-acknowledge FINs: a closing
            // socket does not wait for them.
            let done = st.endpoint.active_connection_count() == 0;
            if done || now >= started + SHUTDOWN_GRACE.as_micros() as u64 {
                st.stopped = true;
                st.wakers.wake_all();
                self.changed.notify_all();
                return Next::Finished;
            }
            // Re-check the grace period now and then.
            let recheck = now + 100_000;
            due = Some(due.map_or(recheck, |d| d.min(recheck)));
        }
        self.wake.arm(due);
        Next::Wait(due)
    }
}
