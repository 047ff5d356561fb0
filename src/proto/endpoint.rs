//! The endpoint: every connection on one UDP socket, demultiplexed by (peer address,
//! connection id) as BEP 29 and libutp do, plus what happens to datagrams that match no
//! connection.
//!
//! # Drive loop contract
//! The endpoint is sans-IO. The caller owns the socket and the clock and must:
//! 1. feed every received datagram to [`Endpoint::handle_datagram`], and call
//!    [`Endpoint::handle_timeout`] when the deadline from [`Endpoint::poll_timeout`] passes;
//! 2. after **every** input (datagram, timeout, connect, accept, write, read, shutdown, close),
//!    drain [`Endpoint::poll_transmit`] until it returns `None`, sending each datagram, and
//!    drain [`Endpoint::poll_event`];
//! 3. re-read [`Endpoint::poll_timeout`] before sleeping.
//!
//! `now` must never go backwards. Connection ids and initial sequence numbers come from the
//! seed given to [`Endpoint::new`]; the endpoint draws no entropy of its own.
//!
//! # Bounded work and memory (hostile input)
//! * Per datagram: decoding walks the extension chain once (each step consumes at least two
//!   bytes); a selective ACK has at most 2016 bits, each read a fixed number of times; loss detection
//!   scans the packets in flight, at most [`MAX_PACKETS_IN_FLIGHT`]; a cumulative ACK frees
//!   each packet once; a SYN costs O(1) (see `admission.rs`, `unknown.rs`).
//! * Per timer tick: only connections whose deadline passed are visited (a timing wheel of about
//!   one entry per connection, O(1) per entry: see `timer_wheel.rs`); each does at most
//!   O(packets in flight) work.
//! * Per connection: the send buffer (at most [`Config::max_send_buffer`]), the receive buffer
//!   (packets held out of order charged at least
//!   [`HELD_PACKET_MIN_CHARGE`](crate::proto::reliability::recv_buffer::HELD_PACKET_MIN_CHARGE)
//!   bytes each), at most 8 packets that overtook the SYN-ACK; an idle connection frees its
//!   pooled buffers after a keepalive interval (tests/idle_memory.rs).
//! * Per endpoint: [`Config::max_connections`], [`Config::max_connections_per_ip`] per peer
//!   address, [`Config::max_half_open`] with eviction, and RESETs to unknown peers limited by
//!   a token bucket ([`Config::reset_burst`], [`Config::reset_rate`]).
//!
//! [`MAX_PACKETS_IN_FLIGHT`]: crate::proto::config::MAX_PACKETS_IN_FLIGHT

use crate::proto::config::{Config, ConfigError, ConnectionOptions};
use crate::proto::connection::{Connection, EventQueue, Rejected};
use crate::proto::error::{ConnectError, StreamError};
pub use crate::proto::event::Event;
use crate::proto::packet::{encode, looks_like_utp, Extensions, Header, Packet, PacketType};
use crate::proto::rng::SplitMix64;
use crate::proto::seq::SeqNr;
use crate::proto::stats::{size_bucket, ConnectionStats, EndpointStats};
use crate::proto::time::Instant;
use core::net::SocketAddr;
use core::time::Duration;
use std::collections::{HashMap, VecDeque};

mod admission;
mod handle_map;
mod mtu_cache;
mod timer_wheel;
mod unknown;

use admission::Admission;
pub(crate) use handle_map::HandleMap;
use mtu_cache::MtuCache;
pub use mtu_cache::MTU_CACHE_ENTRIES;
use timer_wheel::TimerWheel;

/// A datagram the engine wants sent: the bytes are in the buffer given to `poll_transmit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// How many bytes of the caller's buffer make up the datagram.
    pub len: usize,
    /// Set the IP "don't fragment" bit: the datagram is a path-MTU probe (libutp's
    /// `UTP_UDP_DONTFRAG`).
    pub dont_fragment: bool,
    /// The connection that sent it (`None` for RESETs answering unknown connections).
    pub connection: Option<ConnectionHandle>,
}

/// Identifies a connection within its endpoint. Never reused by the same endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub u64);

/// A connection request (a SYN for an unknown connection) awaiting the application's decision:
/// [`Endpoint::accept`] it, [`Endpoint::refuse`] it, or drop it to ignore the SYN silently (as
/// libutp does without an accept callback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    remote: SocketAddr,
    syn: Header,
    /// Length of the SYN datagram (counted in the statistics if accepted, as libutp does).
    len: usize,
}

impl Incoming {
    /// Who is asking.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The connection id in the SYN.
    pub fn connection_id(&self) -> u16 {
        self.syn.connection_id
    }
}

/// What [`Endpoint::handle_datagram`] made of a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatagramEvent {
    /// Not uTP (libutp's `utp_process_udp` returns 0): hand it to whoever else shares the
    /// socket, such as a DHT.
    NotUtp,
    /// uTP, and dealt with (delivered, answered, or dropped as malformed or unwanted).
    Handled,
    /// A new connection request.
    Incoming(Incoming),
}

/// A payload [`Endpoint::handle_datagram_in_place`] delivered in place: the application gets
/// `data[offset..offset + len]` of the datagram it was given, before anything else it reads
/// from `connection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InPlace {
    /// The connection the payload belongs to.
    pub connection: ConnectionHandle,
    /// Where the payload starts in the datagram.
    pub offset: usize,
    /// Its length (never 0).
    pub len: usize,
}

/// Queuing-delay estimates of a connection (see [`Endpoint::delays`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delays {
    /// Queuing delay measured on our direction.
    pub ours: Duration,
    /// Queuing delay measured on the peer's direction.
    pub theirs: Duration,
    /// Time since the last packet from the peer (`None` before any).
    pub since_last_received: Option<Duration>,
}

/// Tries to draw a connection id not in use for a peer before giving up.
const CONNECTION_ID_ATTEMPTS: usize = 64;

/// Draws the receive id of an outgoing connection: random, not in use for this peer, and never
/// 0xFFFF, whose send id would wrap to 0 and fail the acceptor's id check (a libutp bug).
fn pick_recv_id(mut draw: impl FnMut() -> u16, in_use: impl Fn(u16) -> bool) -> Option<u16> {
    (0..CONNECTION_ID_ATTEMPTS)
        .map(|_| draw())
        .find(|&id| id != 0xFFFF && !in_use(id))
}

/// Makes sure the timer wheel wakes `conn` no later than its next deadline. A deadline that
/// moved later keeps the earlier wheel entry: the connection is then woken early, finds nothing
/// due, and is rescheduled. This keeps the wheel near one entry per connection even though the
/// ACK and retransmission timers move on nearly every packet.
///
/// Always inlined: it runs several times per datagram, and the compiler's heuristics stopped
/// inlining it into its four callers once it called the wheel, which cost 0.7 % of the
/// engine's instructions per MiB (scripts/bench-callgrind.sh) in calls alone.
#[inline(always)]
fn schedule(timers: &mut TimerWheel, handle: ConnectionHandle, conn: &mut Connection) {
    let Some(next) = conn.next_timeout() else {
        return;
    };
    if conn.scheduled.is_none_or(|at| next < at) {
        conn.scheduled = Some(next);
        timers.push(next, handle);
    }
}

/// Every connection on one socket.
#[derive(Debug)]
pub struct Endpoint {
    config: Config,
    rng: SplitMix64,
    /// Boxed: a connection is about 2 KiB, and a map stores its values inline in a table up
    /// to twice as large as it is full, so unboxed the empty slots alone would cost an idle
    /// connection 2 KiB more (tests/idle_memory.rs).
    connections: HandleMap<Box<Connection>>,
    /// Connections by peer address and the connection id their packets carry (keyed SipHash:
    /// the network chooses these keys).
    by_key: HashMap<(SocketAddr, u16), ConnectionHandle>,
    /// The `by_key` entry the last datagram used: a bulk transfer's datagrams all hit it, and
    /// skip hashing their address. Cleared whenever `by_key` changes.
    route_cache: Option<((SocketAddr, u16), ConnectionHandle)>,
    /// Live connections per remote address, oldest first: a new connection to the same peer
    /// starts from the oldest one's path measurements (see [`Endpoint::insert`]).
    by_remote: HashMap<SocketAddr, Vec<ConnectionHandle>>,
    next_handle: u64,
    events: EventQueue,
    ready: VecDeque<ConnectionHandle>,
    /// Connections that received data since the last [`Endpoint::flush_acks`].
    owing_acks: Vec<ConnectionHandle>,
    /// One deadline per connection, at least (see [`schedule`]); stale entries (the connection
    /// is gone, or its `scheduled` deadline differs) are skipped when they come out.
    timers: TimerWheel,
    resets: VecDeque<(SocketAddr, Header)>,
    last_routed: Option<ConnectionHandle>,
    forced_initial_seq: Option<SeqNr>,
    reset_tokens: u32,
    reset_refill_at: Instant,
    stats: EndpointStats,
    /// What path-MTU discovery found per destination host.
    mtu_cache: MtuCache,
    /// The latest time given to any input (for inputs that come without one, such as ICMP).
    last_now: Instant,
    /// Connections per peer address and the half-open ones (SYN-flood defence).
    admission: Admission,
}

impl Endpoint {
    /// An endpoint with `config`, drawing connection ids and sequence numbers from `seed`.
    pub fn new(config: Config, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Endpoint {
            reset_tokens: config.reset_burst,
            mtu_cache: MtuCache::new(config.pmtu_raise_interval, MTU_CACHE_ENTRIES),
            last_now: Instant::ZERO,
            config,
            rng: SplitMix64::new(seed),
            connections: HandleMap::default(),
            by_key: HashMap::new(),
            route_cache: None,
            by_remote: HashMap::new(),
            next_handle: 1,
            events: VecDeque::new(),
            ready: VecDeque::new(),
            owing_acks: Vec::new(),
            timers: TimerWheel::new(),
            resets: VecDeque::new(),
            last_routed: None,
            forced_initial_seq: None,
            reset_refill_at: Instant::ZERO,
            stats: EndpointStats::default(),
            admission: Admission::default(),
        })
    }

    /// Replaces the random stream (for callers that supply randomness per connection).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = SplitMix64::new(seed);
    }

    /// Makes the next connection (outgoing or accepted) start at sequence number `seq` instead
    /// of a random one. For tests that need the 16-bit wrap early, and for replaying traces.
    pub fn force_next_initial_seq(&mut self, seq: SeqNr) {
        self.forced_initial_seq = Some(seq);
    }

    fn initial_seq(&mut self) -> SeqNr {
        let random = SeqNr(self.rng.next_u16());
        self.forced_initial_seq.take().unwrap_or(random)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Endpoint-wide counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Number of connections the application can still use (not yet `Closed`).
    pub fn active_connection_count(&self) -> usize {
        self.connections
            .values()
            .filter(|c| !c.is_released())
            .count()
    }

    /// Number of connections held (including closed ones still lingering).
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    fn connection(&self, handle: ConnectionHandle) -> Result<&Connection, StreamError> {
        match self.connections.get(&handle) {
            Some(c) if !c.is_released() => Ok(c),
            _ => Err(StreamError::UnknownConnection),
        }
    }

    fn connection_mut(&mut self, handle: ConnectionHandle) -> Result<&mut Connection, StreamError> {
        match self.connections.get_mut(&handle) {
            Some(c) if !c.is_released() => Ok(c),
            _ => Err(StreamError::UnknownConnection),
        }
    }

    /// Starts connecting to `remote`; `Event::Connected` or `Event::Error` follows.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
    ) -> Result<ConnectionHandle, ConnectError> {
        self.connect_with(now, remote, &ConnectionOptions::default())
    }

    /// [`Endpoint::connect`] with per-connection overrides of the configuration.
    pub fn connect_with(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        options: &ConnectionOptions,
    ) -> Result<ConnectionHandle, ConnectError> {
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(ConnectError::InvalidAddress);
        }
        if self.connections.len() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let config = options
            .apply(&self.config)
            .map_err(|_| ConnectError::InvalidOptions)?;
        // Receive id = seed, send id = seed + 1 (BEP 29, as libutp).
        let by_key = &self.by_key;
        let rng = &mut self.rng;
        let recv_id = pick_recv_id(|| rng.next_u16(), |id| by_key.contains_key(&(remote, id)))
            .ok_or(ConnectError::NoConnectionIds)?;
        let initial_seq = self.initial_seq();
        let handle = self.new_handle();
        let conn = Connection::outgoing(handle, remote, recv_id, initial_seq, &config, now);
        self.insert_resuming_pmtu(now, handle, conn);
        Ok(handle)
    }

    /// Accepts a connection request. The SYN-ACK goes out with the next `poll_transmit`, and
    /// `Event::Connected` is queued at once.
    pub fn accept(
        &mut self,
        now: Instant,
        incoming: Incoming,
    ) -> Result<ConnectionHandle, ConnectError> {
        self.accept_with(now, incoming, &ConnectionOptions::default())
    }

    /// [`Endpoint::accept`] with per-connection overrides of the configuration.
    pub fn accept_with(
        &mut self,
        now: Instant,
        incoming: Incoming,
        options: &ConnectionOptions,
    ) -> Result<ConnectionHandle, ConnectError> {
        let key = (incoming.remote, incoming.syn.connection_id.wrapping_add(1));
        if self.by_key.contains_key(&key) {
            return Err(ConnectError::NoConnectionIds);
        }
        let config = options
            .apply(&self.config)
            .map_err(|_| ConnectError::InvalidOptions)?;
        let held = self.connections.len();
        if self
            .admission
            .check(&self.config, incoming.remote, held)
            .is_err()
            || !self.make_room(now)
        {
            return Err(ConnectError::TooManyConnections);
        }
        self.stats.received_by_size[size_bucket(incoming.len)] += 1;
        let initial_seq = self.initial_seq();
        let handle = self.new_handle();
        let conn = Connection::accepted(
            handle,
            incoming.remote,
            incoming.syn.connection_id,
            incoming.syn.seq_nr,
            incoming.syn.window,
            initial_seq,
            &config,
            now,
            &mut self.events,
        );
        self.insert_resuming_pmtu(now, handle, conn);
        Ok(handle)
    }

    /// Refuses a connection request with a RESET, so the peer's connect fails at once with
    /// "refused" (dropping the `Incoming` instead ignores the SYN silently).
    pub fn refuse(&mut self, now: Instant, incoming: Incoming) {
        self.queue_reset(now, incoming.remote, &incoming.syn);
    }

    fn new_handle(&mut self) -> ConnectionHandle {
        let h = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        h
    }

    /// Inserts a new connection, starting its path-MTU search from what earlier connections to
    /// the same host found.
    fn insert_resuming_pmtu(
        &mut self,
        now: Instant,
        handle: ConnectionHandle,
        mut conn: Connection,
    ) {
        self.last_now = self.last_now.max(now);
        if let Some((confirmed, too_big)) = self.mtu_cache.get(now, conn.remote().ip()) {
            conn.resume_pmtu(now, confirmed, too_big);
        }
        self.insert(handle, conn);
    }

    /// Copies what connection `handle`'s path-MTU search learned into the per-destination cache.
    fn remember_pmtu(&mut self, now: Instant, handle: ConnectionHandle) {
        if let Some(conn) = self.connections.get_mut(&handle) {
            if let Some(bounds) = conn.take_pmtu_learned() {
                self.mtu_cache.insert(now, conn.remote().ip(), bounds);
            }
        }
    }

    /// Adds a connection. When another connection to the same address is live, the new one
    /// takes over its delay base: both measure the same path from the same two clocks, and a
    /// newcomer that took the queue the first one keeps at LEDBAT's target for an empty path
    /// would aim for twice the target and starve it (RFC 6817 section 4.4, "latecomer
    /// advantage"; libutp has it between its own connections).
    fn insert(&mut self, handle: ConnectionHandle, mut conn: Connection) {
        let siblings = self.by_remote.entry(conn.remote()).or_default();
        if let Some(oldest) = siblings.first().and_then(|h| self.connections.get_mut(h)) {
            if self.config.share_path_state {
                conn.inherit_path(oldest);
            }
        }
        siblings.push(handle);
        self.admission.on_insert(handle, &mut conn);
        self.route_cache = None;
        self.by_key.insert((conn.remote(), conn.recv_id()), handle);
        self.connections.insert(handle, Box::new(conn));
        self.touch(handle);
    }

    /// After anything happened to a connection: queue it for transmission, reschedule its
    /// timer, and forget it when it is finished.
    fn touch(&mut self, handle: ConnectionHandle) {
        let Some(conn) = self.connections.get_mut(&handle) else {
            return;
        };
        if conn.is_finished() {
            let key = (conn.remote(), conn.recv_id());
            self.admission.on_remove(conn);
            self.connections.remove(&handle);
            if self.by_key.get(&key) == Some(&handle) {
                self.route_cache = None;
                self.by_key.remove(&key);
            }
            if let Some(siblings) = self.by_remote.get_mut(&key.0) {
                siblings.retain(|&h| h != handle);
                if siblings.is_empty() {
                    self.by_remote.remove(&key.0);
                }
            }
            return;
        }
        self.admission.on_touch(conn);
        if !conn.queued {
            conn.queued = true;
            self.ready.push_back(handle);
        }
        schedule(&mut self.timers, handle, conn);
    }

    /// Feeds one received datagram.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> DatagramEvent {
        self.handle_datagram_in_place(now, from, data, |_| false).0
    }

    /// Feeds one received datagram, like [`Self::handle_datagram`], and lets the caller deliver
    /// its payload to the application straight from `data` instead of through the connection's
    /// buffer, saving two copies (libutp hands an in-order payload to `UTP_ON_READ` in place).
    ///
    /// `may_deliver` is asked about the connection the datagram reaches (at most once); when it
    /// answers true and the payload is the next data of the stream with nothing else waiting to
    /// be read, the payload is accounted as delivered and returned as [`InPlace`]: the caller
    /// must hand `data[offset..offset + len]` to the application before it reads anything else
    /// from that connection. Otherwise the payload is buffered as usual and `None` returned.
    pub fn handle_datagram_in_place(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
        may_deliver: impl FnOnce(ConnectionHandle) -> bool,
    ) -> (DatagramEvent, Option<InPlace>) {
        if !looks_like_utp(data) {
            return (DatagramEvent::NotUtp, None);
        }
        let packet = match Packet::decode(data) {
            Ok(p) => p,
            Err(e) => {
                log::debug!("malformed uTP datagram from {from}: {e}");
                self.stats.malformed += 1;
                return (DatagramEvent::Handled, None);
            }
        };
        let header = packet.header;
        self.last_routed = None;
        let handle = match header.packet_type {
            PacketType::Syn => self
                .by_key
                .get(&(from, header.connection_id.wrapping_add(1)))
                .copied(),
            PacketType::Reset => self.find_reset_target(from, header.connection_id),
            _ => self.route(from, header.connection_id),
        };
        let Some(handle) = handle else {
            return (self.unknown_connection(now, from, header, data.len()), None);
        };
        self.stats.received_by_size[size_bucket(data.len())] += 1;
        self.last_routed = Some(handle);
        self.last_now = self.last_now.max(now);
        let mut in_place = None;
        if let Some(conn) = self.connections.get_mut(&handle) {
            conn.in_place_allowed = header.packet_type == PacketType::Data
                && !packet.payload.is_empty()
                && may_deliver(handle);
            let rejected = conn.handle_packet(now, &packet, &mut self.events);
            conn.in_place_allowed = false;
            let len = std::mem::take(&mut conn.delivered_in_place);
            if len > 0 {
                // The payload is the datagram's tail (BEP 29: it follows the header and the
                // extensions).
                in_place = Some(InPlace {
                    connection: handle,
                    offset: data.len() - len,
                    len,
                });
            }
            match rejected {
                Some(Rejected::Ack) => self.stats.implausible_acks += 1,
                Some(Rejected::Reset) => self.stats.resets_ignored += 1,
                None => {}
            }
            if conn.owes_ack() && !conn.listed_for_ack {
                conn.listed_for_ack = true;
                self.owing_acks.push(handle);
            }
        }
        self.remember_pmtu(now, handle);
        self.touch(handle);
        (DatagramEvent::Handled, in_place)
    }

    /// The connection whose packets from `from` carry `id`, through the one-entry cache.
    fn route(&mut self, from: SocketAddr, id: u16) -> Option<ConnectionHandle> {
        let key = (from, id);
        if let Some((cached, handle)) = self.route_cache {
            if cached == key {
                return Some(handle);
            }
        }
        let handle = self.by_key.get(&key).copied()?;
        self.route_cache = Some((key, handle));
        Some(handle)
    }

    /// The connection the last datagram given to [`Endpoint::handle_datagram`] was delivered to,
    /// if any (for per-connection accounting such as libutp's overhead statistics).
    pub fn last_routed(&self) -> Option<ConnectionHandle> {
        self.last_routed
    }

    /// Handles expired timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        while let Some((at, handle)) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(conn) = self.connections.get_mut(&handle) else {
                continue;
            };
            if conn.scheduled != Some(at) {
                continue;
            }
            conn.scheduled = None;
            conn.handle_timeout(now, &mut self.events);
            self.remember_pmtu(now, handle);
            self.touch(handle);
        }
    }

    /// The next time [`Endpoint::handle_timeout`] must be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some((at, handle)) = self.timers.peek() {
            match self.connections.get(&handle) {
                Some(conn) if conn.scheduled == Some(at) => return Some(at),
                _ => {
                    self.timers.pop();
                }
            }
        }
        None
    }

    /// Writes the next datagram to send into `buf` (which must hold the largest configured
    /// packet size). Connections take turns, one datagram each.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((to, header)) = self.resets.pop_front() {
            if let Ok(len) = encode(&header, &Extensions::default(), &[], buf) {
                self.stats.sent_by_size[size_bucket(len)] += 1;
                return Some(Transmit {
                    destination: to,
                    len,
                    dont_fragment: false,
                    connection: None,
                });
            }
        }
        while let Some(handle) = self.ready.pop_front() {
            let Some(conn) = self.connections.get_mut(&handle) else {
                continue;
            };
            match conn.poll_transmit(now, buf) {
                Some(written) => {
                    let destination = conn.remote();
                    self.ready.push_back(handle);
                    self.stats.sent_by_size[size_bucket(written.len)] += 1;
                    schedule(&mut self.timers, handle, conn);
                    if conn.is_finished() {
                        self.touch(handle);
                    }
                    return Some(Transmit {
                        destination,
                        len: written.len,
                        dont_fragment: written.dont_fragment,
                        connection: Some(handle),
                    });
                }
                None => {
                    conn.queued = false;
                    self.touch_after_idle(handle);
                }
            }
        }
        None
    }

    /// A connection with nothing more to send: forget it if finished, else just reschedule.
    fn touch_after_idle(&mut self, handle: ConnectionHandle) {
        let Some(conn) = self.connections.get_mut(&handle) else {
            return;
        };
        if conn.is_finished() {
            self.touch(handle);
            return;
        }
        schedule(&mut self.timers, handle, conn);
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        self.events.pop_front()
    }

    /// Queues `data` on a connection; returns how much was taken (up to the free send buffer).
    pub fn write(&mut self, handle: ConnectionHandle, data: &[u8]) -> Result<usize, StreamError> {
        let n = self.connection_mut(handle)?.write(data)?;
        self.touch(handle);
        Ok(n)
    }

    /// Reads received data. `Ok(0)` means the peer finished and everything was read;
    /// `Err(WouldBlock)` means nothing is available yet.
    pub fn read(&mut self, handle: ConnectionHandle, buf: &mut [u8]) -> Result<usize, StreamError> {
        let result = self.connection_mut(handle)?.read(buf);
        self.touch(handle);
        result
    }

    /// Bytes ready to read on a connection.
    pub fn readable_len(&self, handle: ConnectionHandle) -> Result<usize, StreamError> {
        Ok(self.connection(handle)?.readable_len())
    }

    /// Shuts down the sending side: a FIN follows the data written so far.
    pub fn shutdown(&mut self, handle: ConnectionHandle) -> Result<(), StreamError> {
        self.connection_mut(handle)?.shutdown_write();
        self.touch(handle);
        Ok(())
    }

    /// Whether the peer has acknowledged every byte written on the connection (and our FIN,
    /// after [`Endpoint::shutdown`]). When not yet, `Event::Flushed` is reported once it has;
    /// a connection that fails first reports its `Event::Error` instead, and this returns the
    /// error once it failed.
    pub fn poll_flushed(&mut self, handle: ConnectionHandle) -> Result<bool, StreamError> {
        self.connection_mut(handle)?.poll_flushed()
    }

    /// Closes gracefully; `Event::Closed` follows once the FIN is acknowledged (or at once if
    /// the connection never got established or already failed).
    pub fn close(&mut self, now: Instant, handle: ConnectionHandle) -> Result<(), StreamError> {
        self.end(handle, |conn, events| conn.close(now, events))
    }

    /// Aborts: sends a RESET and reports `Event::Closed` at once.
    pub fn abort(&mut self, now: Instant, handle: ConnectionHandle) -> Result<(), StreamError> {
        self.end(handle, |conn, events| conn.abort(now, events))
    }

    /// Runs `f` on a live connection with the event queue (closing or aborting it), then
    /// reschedules it.
    fn end(
        &mut self,
        handle: ConnectionHandle,
        f: impl FnOnce(&mut Connection, &mut EventQueue),
    ) -> Result<(), StreamError> {
        match self.connections.get_mut(&handle) {
            Some(c) if !c.is_released() => f(c, &mut self.events),
            _ => return Err(StreamError::UnknownConnection),
        }
        self.touch(handle);
        Ok(())
    }

    /// Sets the bytes the application holds outside the engine for this connection (they
    /// shrink the advertised window), and sends a window update if that opened it.
    pub fn set_external_buffered(
        &mut self,
        handle: ConnectionHandle,
        bytes: usize,
    ) -> Result<(), StreamError> {
        let conn = self.connection_mut(handle)?;
        conn.set_external_buffered(bytes);
        conn.read_drained();
        self.touch(handle);
        Ok(())
    }

    /// Acknowledges received data at once on every connection that owes an ACK, instead of
    /// waiting for the delayed-ACK timer (libutp's `utp_issue_deferred_acks`; call it after
    /// draining the socket).
    pub fn flush_acks(&mut self) {
        // Only connections that received data since the last flush can owe an ACK: they were
        // listed as it arrived, so a flush costs nothing per idle connection.
        let mut owing = std::mem::take(&mut self.owing_acks);
        for h in owing.drain(..) {
            let Some(c) = self.connections.get_mut(&h) else {
                continue;
            };
            c.listed_for_ack = false;
            if c.owes_ack() {
                c.flush_ack();
                self.touch(h);
            }
        }
        // Keep the allocation for the next round.
        self.owing_acks = owing;
    }

    /// An ICMP error (port or host unreachable) quoted `original`, a datagram we sent to
    /// `remote`. The connection it belongs to fails: `Refused` while connecting, `Reset`
    /// after (libutp's `utp_process_icmp_error`). Returns whether a connection matched.
    pub fn handle_icmp_error(&mut self, now: Instant, remote: SocketAddr, original: &[u8]) -> bool {
        let Some(handle) = self.find_icmp_target(remote, original) else {
            return false;
        };
        if let Some(conn) = self.connections.get_mut(&handle) {
            conn.icmp_unreachable(now, &mut self.events);
        }
        self.touch(handle);
        true
    }

    /// An ICMP "fragmentation needed" / "packet too big" for `original` (a datagram we sent to
    /// `remote`), or a local `EMSGSIZE` for it, with `next_hop_mtu` the largest uTP packet
    /// (UDP payload) that fits: later packets of that connection fit it, a larger path-MTU probe
    /// outstanding has failed, and the search stays below it (libutp's
    /// `utp_process_icmp_fragmentation`). Returns whether a connection matched.
    pub fn handle_icmp_fragmentation(
        &mut self,
        remote: SocketAddr,
        original: &[u8],
        next_hop_mtu: u16,
    ) -> bool {
        let Some(handle) = self.find_icmp_target(remote, original) else {
            return false;
        };
        let now = self.last_now;
        if let Some(conn) = self.connections.get_mut(&handle) {
            conn.lower_packet_size(now, usize::from(next_hop_mtu));
        }
        self.remember_pmtu(now, handle);
        self.touch(handle);
        true
    }

    /// The connection that sent `original` to `remote`: by its connection id, trying the
    /// neighbouring ids as libutp does (a SYN carries our receive id, other packets our send
    /// id). Only the fixed header is read: ICMP quotes may cut a probe's padding short.
    fn find_icmp_target(&self, remote: SocketAddr, original: &[u8]) -> Option<ConnectionHandle> {
        let header = Header::decode(original).ok()?;
        self.find_reset_target(remote, header.connection_id)
    }

    /// Sends an empty data packet (libutp's `utp_write(s, NULL, 0)`, which libutp acceptors
    /// need before they will send anything).
    pub fn send_empty_packet(&mut self, handle: ConnectionHandle) -> Result<(), StreamError> {
        self.connection_mut(handle)?.queue_empty_packet()?;
        self.touch(handle);
        Ok(())
    }

    /// Stops reading: later payload is acknowledged and dropped (libutp's `SHUT_RD`).
    pub fn shutdown_read(&mut self, handle: ConnectionHandle) -> Result<(), StreamError> {
        self.connection_mut(handle)?.shutdown_read();
        self.touch(handle);
        Ok(())
    }

    /// Queuing-delay estimates of both directions and the time since the peer was last heard
    /// from (libutp's `utp_get_delays`).
    pub fn delays(&self, handle: ConnectionHandle, now: Instant) -> Result<Delays, StreamError> {
        Ok(self.connection(handle)?.delays(now))
    }

    /// The peer's address.
    pub fn peer_addr(&self, handle: ConnectionHandle) -> Result<SocketAddr, StreamError> {
        Ok(self.connection(handle)?.remote())
    }

    /// Connection counters.
    pub fn connection_stats(
        &self,
        handle: ConnectionHandle,
    ) -> Result<ConnectionStats, StreamError> {
        Ok(self.connection(handle)?.stats())
    }

    /// The connection's state.
    pub fn state(&self, handle: ConnectionHandle) -> Result<crate::proto::State, StreamError> {
        Ok(self.connection(handle)?.state())
    }

    /// Time until the next timer, for callers that sleep.
    pub fn time_until_timeout(&mut self, now: Instant) -> Option<Duration> {
        self.poll_timeout()
            .map(|t| t.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod black_hole_tests;
#[cfg(test)]
mod confirm_tests;
#[cfg(test)]
mod dup_ack_tests;
#[cfg(test)]
mod extension_tests;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod in_place_tests;
#[cfg(test)]
mod pmtu_tests;
#[cfg(test)]
mod progress_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
