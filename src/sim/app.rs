//! An engine [`Endpoint`] wrapped as a simulator [`Node`], with a scripted application on top:
//! each connection sends a deterministic byte pattern of a chosen length, verifies what it
//! receives against the peer's pattern, and shuts down and closes when told to.
//!
//! The pattern is a fixed pseudo-random table read from an offset that depends on the stream's
//! seed, so misplaced, duplicated or corrupted bytes are detected without storing the stream.

use super::node::Node;
use crate::proto::endpoint::{ConnectionHandle, DatagramEvent, Endpoint, Event, Transmit};
use crate::proto::error::{ConnectionError, StreamError};
use crate::proto::rng::SplitMix64;
use crate::proto::stats::ConnectionStats;
use crate::proto::time::Instant;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::OnceLock;

/// Period of the test pattern: a prime, so that it never lines up with packet sizes.
const PATTERN_PERIOD: usize = 65_521;

fn pattern_table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut rng = SplitMix64::new(0x005E_ED0F_DA7A);
        // Twice the period, so any window of up to one period is a contiguous slice.
        let mut t: Vec<u8> = (0..PATTERN_PERIOD).map(|_| rng.next_u64() as u8).collect();
        t.extend_from_within(..);
        t
    })
}

/// The pattern bytes of stream `seed` starting at `offset`, at most `max` of them.
pub fn pattern(seed: u64, offset: u64, max: usize) -> &'static [u8] {
    let start = ((seed.wrapping_add(offset)) % PATTERN_PERIOD as u64) as usize;
    &pattern_table()[start..start + max.min(PATTERN_PERIOD)]
}

/// What an application does on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Bytes to send.
    pub send: u64,
    /// Pattern seed of what we send.
    pub send_seed: u64,
    /// Bytes we expect from the peer (`None`: do not check the length).
    pub expect: Option<u64>,
    /// Pattern seed of what the peer sends.
    pub expect_seed: u64,
    /// Shut down the sending side once everything is written.
    pub shutdown_when_sent: bool,
    /// Close once everything is sent and the peer's EOF is read.
    pub close_when_done: bool,
    /// Close as soon as an error is reported.
    pub close_on_error: bool,
}

impl Plan {
    /// Send `send` bytes of pattern `seed`, expect `expect` bytes of pattern `peer_seed`, then
    /// shut down and close.
    pub fn transfer(send: u64, seed: u64, expect: u64, peer_seed: u64) -> Self {
        Plan {
            send,
            send_seed: seed,
            expect: Some(expect),
            expect_seed: peer_seed,
            shutdown_when_sent: true,
            close_when_done: true,
            close_on_error: true,
        }
    }
}

/// The application's view of one connection.
#[derive(Debug, Clone)]
pub struct AppConn {
    /// The script.
    pub plan: Plan,
    /// Bytes handed to the engine.
    pub sent: u64,
    /// Bytes read.
    pub received: u64,
    /// Offset of the first received byte that did not match the pattern.
    pub mismatch_at: Option<u64>,
    /// Reading paused by the test (to fill the window).
    pub read_paused: bool,
    /// When `Connected` arrived.
    pub connected_at: Option<Instant>,
    /// When `Eof` arrived.
    pub eof_at: Option<Instant>,
    /// Errors reported (must be at most one).
    pub errors: Vec<ConnectionError>,
    /// When `Closed` arrived.
    pub closed_at: Option<Instant>,
    /// Whether we asked to shut down / close.
    pub shut_down: bool,
    /// Whether `close` was called.
    pub close_called: bool,
    /// Events after `Closed` (must stay 0).
    pub events_after_close: u32,
    /// The engine's counters, as last seen while the connection was open.
    pub stats: ConnectionStats,
}

impl AppConn {
    fn new(plan: Plan) -> Self {
        AppConn {
            plan,
            sent: 0,
            received: 0,
            mismatch_at: None,
            read_paused: false,
            connected_at: None,
            eof_at: None,
            errors: Vec::new(),
            closed_at: None,
            shut_down: false,
            close_called: false,
            events_after_close: 0,
            stats: ConnectionStats::default(),
        }
    }

    /// True when everything expected arrived intact, in full, followed by EOF.
    pub fn received_all(&self) -> bool {
        self.mismatch_at.is_none()
            && self.eof_at.is_some()
            && self.plan.expect.is_none_or(|e| e == self.received)
    }
}

/// An endpoint plus its application.
pub struct EndpointNode {
    /// The engine.
    pub endpoint: Endpoint,
    /// Plan for accepted connections; `None` ignores incoming SYNs (or refuses them, see
    /// `refuse`).
    pub accept_plan: Option<Plan>,
    /// Without an accept plan, answer SYNs with a RESET instead of ignoring them.
    pub refuse: bool,
    /// Every connection the application has seen, by handle.
    pub conns: BTreeMap<ConnectionHandle, AppConn>,
    /// Events in arrival order, with their time.
    pub log: Vec<(Instant, ConnectionHandle, Event)>,
    /// Keep the event log (off for benchmarks).
    pub keep_log: bool,
    /// Cut the selective-ACK masks this node sends to at most this many bytes, to stand in for a
    /// peer that reports less of its receive buffer: libutp sends 4 bytes (`send_ack` in
    /// `utp_internal.cpp`), which cover the 32 packets after the first missing one. `None`
    /// leaves them alone.
    pub sack_limit: Option<usize>,
    read_buf: Vec<u8>,
    pending: Vec<ConnectionHandle>,
}

impl EndpointNode {
    /// Wraps `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        EndpointNode {
            endpoint,
            accept_plan: None,
            refuse: false,
            conns: BTreeMap::new(),
            log: Vec::new(),
            keep_log: true,
            sack_limit: None,
            read_buf: vec![0; 64 * 1024],
            pending: Vec::new(),
        }
    }

    /// Starts a connection to `remote` following `plan`.
    pub fn connect(&mut self, now: Instant, remote: SocketAddr, plan: Plan) -> ConnectionHandle {
        let h = self.endpoint.connect(now, remote).expect("connect");
        self.conns.insert(h, AppConn::new(plan));
        self.kick(h);
        self.pump(now);
        h
    }

    /// Has the application look at `h` again at the next [`EndpointNode::pump`] (after the
    /// test changed its script, e.g. resumed reading).
    pub fn kick(&mut self, h: ConnectionHandle) {
        self.pending.push(h);
    }

    /// The application's record of connection `h`.
    pub fn conn(&self, h: ConnectionHandle) -> &AppConn {
        &self.conns[&h]
    }

    /// The only connection, for two-party scenarios.
    pub fn single(&self) -> (ConnectionHandle, &AppConn) {
        assert_eq!(self.conns.len(), 1, "expected exactly one connection");
        let (h, c) = self.conns.iter().next().expect("one connection");
        (*h, c)
    }

    /// Copies the engine's current counters of `h` into its [`AppConn`], so they are up to
    /// date after the connection is gone (its last datagrams count too).
    fn refresh_stats(&mut self, h: ConnectionHandle) {
        if let (Some(c), Ok(stats)) = (self.conns.get_mut(&h), self.endpoint.connection_stats(h)) {
            c.stats = stats;
        }
    }

    /// Runs the application: handles events, reads, writes, shuts down and closes as planned.
    pub fn pump(&mut self, now: Instant) {
        let mut work = std::mem::take(&mut self.pending);
        loop {
            while let Some((h, event)) = self.endpoint.poll_event() {
                self.on_event(now, h, event);
                work.push(h);
            }
            if work.is_empty() {
                break;
            }
            work.sort_unstable();
            work.dedup();
            for h in work.drain(..) {
                self.drive(now, h);
            }
        }
        self.pending = work;
    }

    fn on_event(&mut self, now: Instant, h: ConnectionHandle, event: Event) {
        if self.keep_log {
            self.log.push((now, h, event));
        }
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        if c.closed_at.is_some() {
            c.events_after_close += 1;
            return;
        }
        match event {
            Event::Connected => c.connected_at = Some(now),
            Event::Eof => c.eof_at = Some(now),
            Event::Error(e) => c.errors.push(e),
            Event::Closed => c.closed_at = Some(now),
            Event::Readable | Event::Writable | Event::Flushed | Event::Confirmed => {}
        }
    }

    /// One round of application work on `h`; true when something happened.
    fn drive(&mut self, now: Instant, h: ConnectionHandle) -> bool {
        let Some(c) = self.conns.get_mut(&h) else {
            return false;
        };
        if c.closed_at.is_some() {
            return false;
        }
        let mut progressed = false;
        if let Ok(stats) = self.endpoint.connection_stats(h) {
            c.stats = stats;
        }
        if !c.errors.is_empty() {
            if c.plan.close_on_error && !c.close_called {
                c.close_called = true;
                let _ = self.endpoint.close(now, h);
                return true;
            }
            return false;
        }
        // Read everything available.
        while !c.read_paused {
            match self.endpoint.read(h, &mut self.read_buf) {
                Ok(0) => break,
                Ok(n) => {
                    let data = &self.read_buf[..n];
                    let mut off = 0;
                    while off < n && c.mismatch_at.is_none() {
                        let expect = pattern(c.plan.expect_seed, c.received + off as u64, n - off);
                        let got = &data[off..off + expect.len()];
                        if got != expect {
                            let i = got
                                .iter()
                                .zip(expect)
                                .position(|(a, b)| a != b)
                                .unwrap_or(0);
                            c.mismatch_at = Some(c.received + (off + i) as u64);
                        }
                        off += expect.len();
                    }
                    c.received += n as u64;
                    progressed = true;
                }
                Err(_) => break,
            }
        }
        // Write as much as the engine takes.
        if c.connected_at.is_some() {
            while c.sent < c.plan.send {
                let chunk = pattern(c.plan.send_seed, c.sent, (c.plan.send - c.sent) as usize);
                match self.endpoint.write(h, chunk) {
                    Ok(n) => {
                        c.sent += n as u64;
                        progressed = true;
                    }
                    Err(StreamError::WouldBlock) => break,
                    Err(_) => break,
                }
            }
            if c.sent == c.plan.send && c.plan.shutdown_when_sent && !c.shut_down {
                c.shut_down = true;
                let _ = self.endpoint.shutdown(h);
                progressed = true;
            }
        }
        let done_sending = c.sent == c.plan.send && (c.shut_down || !c.plan.shutdown_when_sent);
        if c.plan.close_when_done
            && !c.close_called
            && done_sending
            && c.eof_at.is_some()
            && !c.read_paused
        {
            c.close_called = true;
            let _ = self.endpoint.close(now, h);
            progressed = true;
        }
        progressed
    }
}

/// Cuts the selective ACK of an ST_STATE whose only extension it is down to `limit` bytes (a
/// multiple of 4, as BEP 29 requires); returns the datagram's new length. Anything else is left
/// as it is.
fn narrow_sack(datagram: &mut [u8], limit: usize) -> usize {
    use crate::proto::packet::{EXT_NONE, EXT_SELECTIVE_ACK, HEADER_LEN};
    /// Byte 0 of an ST_STATE: type 2 in the high nibble, version 1 in the low one (BEP 29).
    const ST_STATE_V1: u8 = 0x21;
    let limit = (limit / 4 * 4).clamp(4, 252);
    let len = datagram.len();
    let is_lone_sack = len > HEADER_LEN + 2
        && datagram[0] == ST_STATE_V1
        && datagram[1] == EXT_SELECTIVE_ACK
        && datagram[HEADER_LEN] == EXT_NONE
        && usize::from(datagram[HEADER_LEN + 1]) == len - HEADER_LEN - 2;
    if !is_lone_sack || len - HEADER_LEN - 2 <= limit {
        return len;
    }
    // `limit` is at most 252, so it fits the length byte.
    datagram[HEADER_LEN + 1] = limit as u8;
    HEADER_LEN + 2 + limit
}

impl Node for EndpointNode {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if let DatagramEvent::Incoming(incoming) = self.endpoint.handle_datagram(now, from, data) {
            match self.accept_plan {
                Some(plan) => {
                    if let Ok(h) = self.endpoint.accept(now, incoming) {
                        self.conns.insert(h, AppConn::new(plan));
                        self.pending.push(h);
                    }
                }
                None if self.refuse => self.endpoint.refuse(now, incoming),
                None => {}
            }
        }
        if let Some(h) = self.endpoint.last_routed() {
            self.refresh_stats(h);
        }
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.pump(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let mut transmit = self.endpoint.poll_transmit(now, buf)?;
        if let Some(h) = transmit.connection {
            self.refresh_stats(h);
        }
        if let Some(limit) = self.sack_limit {
            transmit.len = narrow_sack(&mut buf[..transmit.len], limit);
        }
        Some(transmit)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.endpoint.poll_timeout()
    }
}
