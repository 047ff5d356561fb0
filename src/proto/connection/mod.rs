//! One uTP connection: its state machine (BEP 29 handshake, FIN and RESET teardown), the send
//! and receive paths, and its timers.
//!
//! The endpoint owns connections and routes to them; a connection never sees another one. All
//! methods take the current time when they need it; outputs are polled by the endpoint
//! (`poll_transmit`, `next_timeout`) or pushed into the endpoint's event queue.
//!
//! Sequence-number rules (BEP 29, as libutp): the SYN consumes a sequence number; the SYN-ACK is
//! an ST_STATE carrying the acceptor's first sequence number without consuming it; ST_STATE
//! packets carry the next sequence number to be sent; a FIN consumes one.

mod autosize;
mod incoming;
mod outgoing;
mod pmtu;
mod timer;

pub use pmtu::{datagram_lifetime, BLACK_HOLE_TIMEOUTS, MIN_DATAGRAM_LIFETIME};
pub use timer::{Timer, TimerTable};

use outgoing::Written;

use crate::proto::config::Config;
use crate::proto::congestion::pacer::DEFAULT_BURST;
use crate::proto::congestion::{Ledbat, LedbatConfig, Pacer};
use crate::proto::endpoint::ConnectionHandle;
use crate::proto::error::{ConnectionError, StreamError};
use crate::proto::event::Event;
use crate::proto::mtu::PmtuSearch;
use crate::proto::packet::Header;
use crate::proto::packet::HEADER_LEN;
use crate::proto::reliability::recv_buffer::RecvBuffer;
use crate::proto::reliability::rtt::RttEstimator;
use crate::proto::reliability::send_queue::SendQueue;
use crate::proto::reliability::unsent::Unsent;
use crate::proto::seq::SeqNr;
use crate::proto::stats::ConnectionStats;
use crate::proto::time::{Instant, WireTime};
use core::net::SocketAddr;
use std::collections::VecDeque;

/// Events produced by connections, queued in the endpoint.
pub(crate) type EventQueue = VecDeque<(ConnectionHandle, Event)>;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Our SYN is out, no answer yet.
    SynSent,
    /// Established (either direction may have shut down its sending side).
    Connected,
    /// Failed (reset or timed out); waiting for the application to close it.
    Failed,
    /// Gone for the application; may linger briefly to acknowledge a retransmitted FIN.
    Closed,
}

/// A uTP connection.
#[derive(Debug)]
pub struct Connection {
    handle: ConnectionHandle,
    remote: SocketAddr,
    recv_id: u16,
    send_id: u16,
    state: State,
    config: Config,
    packet_size: usize,
    /// Path-MTU discovery; `packet_size` follows its confirmed size.
    pmtu: PmtuSearch,
    /// Sequence number of the outstanding path-MTU probe.
    probe_seq: Option<SeqNr>,
    /// The search learned something the endpoint's cache has not seen.
    pmtu_learned: bool,

    send: SendQueue,
    unsent: Unsent,
    recv: RecvBuffer,
    rtt: RttEstimator,
    cc: Ledbat,
    pacer: Pacer,
    peer_window: usize,
    timers: TimerTable,

    /// Acceptor: our first sequence number and the peer's SYN sequence number, to resend the
    /// SYN-ACK identically when the SYN is retransmitted.
    syn_ack: Option<(SeqNr, SeqNr)>,
    syn_ack_due: bool,
    syn_due: bool,
    reset_due: bool,
    ack_due: bool,
    keepalive_due: bool,
    probe_due: bool,
    unacked_packets: u16,
    /// Receive autotuning's count of the current round trip.
    recv_tuner: autosize::RecvTuner,
    /// Payload bytes the application has read (or, over the C API, been handed).
    bytes_read: u64,
    /// When the oldest unacknowledged data packet arrived (for [`Config::adaptive_ack`]).
    first_unacked_at: Instant,
    /// When the last in-order data packet arrived.
    last_data_at: Instant,
    /// The largest payload received from the peer so far (a shorter one ends a write).
    largest_payload: usize,
    /// Recent spacing of the peer's data packets in µs: follows a smaller gap at once and a
    /// larger one slowly (1/16 per packet), so pauses between bursts barely move it.
    data_spacing: u64,
    reply_micro: u32,
    last_advertised: usize,
    dup_acks: u32,
    last_ack_timestamp: WireTime,
    /// The peer has sent a selective ACK: loss detection relies on RACK alone.
    peer_sends_sack: bool,
    consecutive_timeouts: u32,
    /// The congestion window before the first of the current run of timeouts (restored as the
    /// slow-start threshold when they turn out to be a path-MTU black hole).
    window_before_timeouts: usize,
    /// Timeouts of full-size packets suggest a path-MTU black hole; the ping's answer decides.
    black_hole_suspected: bool,
    /// The black-hole ping goes out with the next poll.
    black_hole_ping_due: bool,
    /// The timestamp our last black-hole ping carried (see `on_black_hole_evidence`).
    black_hole_ping_sent: Option<crate::proto::time::WireTime>,
    /// A confirmed black hole waits to re-cut the outstanding data until every copy of it sent
    /// so far has died in the network (see `fall_back_from_black_hole`); nothing but ACKs is
    /// sent meanwhile.
    recut: Option<pmtu::Recut>,
    /// The loss episode under way: the window was cut for a loss among packets sent before
    /// this sequence number, and further losses among them are part of the same congestion
    /// event (RFC 6675 section 5 "RecoveryPoint"; RFC 5681 section 3.2 cuts once per window).
    recovery_end: Option<SeqNr>,
    /// Estimated bytes the peer received beyond the reach of its selective ACKs: one packet per
    /// ACK that reported nothing new while the peer held packets out of order. They count as in
    /// flight until acknowledged, so the window is widened by them (see `process_ack`).
    undescribed: usize,
    /// Packets that overtook the SYN-ACK, replayed once connected.
    early: Vec<(Header, Vec<u8>)>,
    /// A packet arrived from the peer since the last retransmission timeout.
    heard_since_timeout: bool,
    /// The path was seen reordering (RFC 8985 RACK.reordering_seen).
    reordering_seen: bool,
    /// Multiplier of the reordering window, raised by spurious retransmissions (RFC 8985
    /// RACK.reo_wnd_mult).
    reo_wnd_mult: u32,

    write_shutdown: bool,
    /// `Event::Flushed` is owed once everything written is acknowledged.
    flush_wanted: bool,
    fin_sent: bool,
    fin_acked: bool,
    eof_reported: bool,
    closed_by_app: bool,
    error: Option<ConnectionError>,
    write_blocked: bool,
    readable_notified: bool,
    external_buffered: usize,
    last_sent_at: Instant,
    /// When the peer was last heard from.
    last_received_at: Option<Instant>,
    /// An empty data packet was asked for (libutp's zero-length write).
    empty_packet_due: bool,
    finished: bool,

    /// Set when the endpoint has this connection in its transmit queue.
    pub(crate) queued: bool,
    /// Listed in the endpoint's connections that may owe an ACK (for `flush_acks`).
    pub(crate) listed_for_ack: bool,
    /// The deadline the endpoint's timer wheel holds for this connection.
    pub(crate) scheduled: Option<Instant>,
    /// Set by the endpoint around one packet: the application takes that packet's payload
    /// straight from the datagram (see [`crate::proto::Endpoint::handle_datagram_in_place`]).
    pub(crate) in_place_allowed: bool,
    /// Bytes of the last packet's payload delivered in place (0: none); read by the endpoint.
    pub(crate) delivered_in_place: usize,
    /// Accepted from a SYN and nothing heard from the peer since but SYN retransmits (see
    /// [`Connection::is_half_open`]).
    half_open: bool,
    /// An accepted connection not yet reported [`Event::Confirmed`].
    unconfirmed: bool,
    /// Counted among the endpoint's half-open connections (the endpoint's bookkeeping).
    pub(crate) counted_half_open: bool,
    /// Retransmission timeouts in a row while the peer answered with a closed window.
    window_probes: u32,
    stats: ConnectionStats,
}

/// How far before the oldest unacknowledged sequence number a RESET's `ack_nr` may lie and
/// still be believed. libutp and libtorrent answer a packet for a connection they do not know
/// with a RESET whose `ack_nr` is that packet's `seq_nr`, so a genuine RESET names a sequence
/// number we sent: at most `next_seq` (our ST_STATE packets carry the next number), and not
/// long acknowledged. A few dozen numbers below the send base cover packets still in the
/// network when the peer restarted; a stale RESET beyond that is harmless to ignore, as the
/// peer answers our next packet with a fresh one. Our own choice: 64, so a blind attacker
/// guesses right with odds of (packets in flight + 65) in 65 536.
pub const RESET_SEQ_SLACK: u16 = 64;

/// Why [`Connection::handle_packet`] dropped a packet without acting on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// It acknowledged (cumulatively or selectively) a packet we never sent.
    Ack,
    /// A RESET whose `ack_nr` names no sequence number we sent recently.
    Reset,
}

/// Packet payload capacity for a datagram of `packet_size` bytes.
fn payload_size(packet_size: usize) -> usize {
    packet_size - HEADER_LEN
}

impl Connection {
    #[allow(clippy::too_many_arguments)]
    fn new(
        handle: ConnectionHandle,
        remote: SocketAddr,
        recv_id: u16,
        send_id: u16,
        first_seq: SeqNr,
        ack_nr: SeqNr,
        state: State,
        config: &Config,
        now: Instant,
    ) -> Self {
        let pmtu = pmtu::search_for(remote, config);
        let packet_size = pmtu.current();
        let mss = payload_size(packet_size);
        let cc_config = LedbatConfig {
            target: config.target_delay,
            max_cwnd: config.send_buffer_cap().max(packet_size),
            plus_plus: config.ledbat_plus_plus,
            ..LedbatConfig::default()
        };
        Connection {
            handle,
            remote,
            recv_id,
            send_id,
            state,
            config: config.clone(),
            packet_size,
            pmtu,
            probe_seq: None,
            pmtu_learned: false,
            send: SendQueue::new(first_seq, mss),
            unsent: Unsent::default(),
            // The peer's packets may be as large as our ceiling (its search finds the same
            // path), whatever size we start at: the receive slack takes one of those.
            recv: RecvBuffer::new(
                config.recv_buffer,
                payload_size(config.max_packet_size_v4.max(config.max_packet_size_v6)),
                ack_nr,
            ),
            rtt: RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto),
            // The window counts whole datagrams, headers included (as libutp).
            cc: Ledbat::new(cc_config, packet_size),
            pacer: Pacer::new(DEFAULT_BURST),
            // Until the peer tells us, assume it can take a full send buffer (libutp assumes
            // 255 packets' worth).
            peer_window: config.send_buffer,
            timers: TimerTable::default(),
            syn_ack: None,
            syn_ack_due: false,
            syn_due: false,
            reset_due: false,
            ack_due: false,
            keepalive_due: false,
            probe_due: false,
            unacked_packets: 0,
            recv_tuner: autosize::RecvTuner::default(),
            bytes_read: 0,
            first_unacked_at: Instant::from_micros(0),
            last_data_at: Instant::from_micros(0),
            largest_payload: 0,
            data_spacing: u64::MAX,
            reply_micro: 0,
            last_advertised: config.recv_buffer,
            dup_acks: 0,
            last_ack_timestamp: WireTime::default(),
            peer_sends_sack: false,
            consecutive_timeouts: 0,
            window_before_timeouts: 0,
            black_hole_suspected: false,
            black_hole_ping_due: false,
            black_hole_ping_sent: None,
            recut: None,
            recovery_end: None,
            undescribed: 0,
            early: Vec::new(),
            heard_since_timeout: false,
            reordering_seen: false,
            reo_wnd_mult: 1,
            write_shutdown: false,
            flush_wanted: false,
            fin_sent: false,
            fin_acked: false,
            eof_reported: false,
            closed_by_app: false,
            error: None,
            write_blocked: false,
            readable_notified: false,
            external_buffered: 0,
            last_sent_at: now,
            last_received_at: None,
            empty_packet_due: false,
            finished: false,
            queued: false,
            listed_for_ack: false,
            in_place_allowed: false,
            delivered_in_place: 0,
            scheduled: None,
            half_open: false,
            unconfirmed: false,
            counted_half_open: false,
            window_probes: 0,
            stats: ConnectionStats::default(),
        }
    }

    /// An outgoing connection: the SYN goes out on the next poll. `recv_id` is the id we
    /// receive on (the SYN carries it); we send on `recv_id + 1` (BEP 29, as libutp).
    pub(crate) fn outgoing(
        handle: ConnectionHandle,
        remote: SocketAddr,
        recv_id: u16,
        initial_seq: SeqNr,
        config: &Config,
        now: Instant,
    ) -> Self {
        let mut c = Connection::new(
            handle,
            remote,
            recv_id,
            recv_id.wrapping_add(1),
            initial_seq,
            SeqNr(0),
            State::SynSent,
            config,
            now,
        );
        c.syn_due = true;
        c
    }

    /// An accepted connection, answering a SYN with connection id `syn_id` and sequence number
    /// `syn_seq`: we receive on `syn_id + 1` and send on `syn_id` (BEP 29, as libutp). The
    /// SYN-ACK goes out on the next poll and the connection is usable at once.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn accepted(
        handle: ConnectionHandle,
        remote: SocketAddr,
        syn_id: u16,
        syn_seq: SeqNr,
        peer_window: u32,
        initial_seq: SeqNr,
        config: &Config,
        now: Instant,
        events: &mut EventQueue,
    ) -> Self {
        let mut c = Connection::new(
            handle,
            remote,
            syn_id.wrapping_add(1),
            syn_id,
            initial_seq,
            syn_seq,
            State::Connected,
            config,
            now,
        );
        c.peer_window = peer_window as usize;
        c.syn_ack = Some((initial_seq, syn_seq));
        c.syn_ack_due = true;
        c.half_open = true;
        c.unconfirmed = true;
        c.timers.set(Timer::Confirm, now + c.config.confirm_timeout);
        c.arm_keepalive(now);
        c.arm_idle(now);
        events.push_back((handle, Event::Connected));
        c
    }

    /// The peer's address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The connection id we receive on.
    pub fn recv_id(&self) -> u16 {
        self.recv_id
    }

    /// The connection id we send on.
    pub fn send_id(&self) -> u16 {
        self.send_id
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// True once the application may no longer use the handle (the `Closed` event was queued).
    pub fn is_released(&self) -> bool {
        self.state == State::Closed
    }

    /// Accepted from a SYN, and nothing heard from the peer since but retransmissions of that
    /// SYN: the peer has not shown it received our SYN-ACK (whose sequence number a spoofed
    /// SYN's sender never sees). Such connections may be evicted under a SYN flood (see
    /// [`Config::max_half_open`]). A failed or closed connection is not half-open.
    pub fn is_half_open(&self) -> bool {
        self.half_open && self.state == State::Connected
    }

    /// Drops a half-open connection to make room for a newer connection request: it fails
    /// with [`ConnectionError::Evicted`] (no RESET is sent: the SYN was likely spoofed).
    /// Reports an accepted connection confirmed, once (see [`Event::Confirmed`]).
    pub(super) fn confirm(&mut self, events: &mut EventQueue) {
        if core::mem::take(&mut self.unconfirmed) {
            self.timers.stop(Timer::Confirm);
            events.push_back((self.handle, Event::Confirmed));
        }
    }

    pub(crate) fn evict(&mut self, now: Instant, events: &mut EventQueue) {
        self.half_open = false;
        self.fail(now, ConnectionError::Evicted, events);
        self.release_idle_memory();
    }

    /// The send queue, for tests that check what an input did to it.
    #[cfg(test)]
    pub(crate) fn send_queue(&self) -> &SendQueue {
        &self.send
    }

    /// Bytes by which duplicate ACKs widened the window, for tests.
    #[cfg(test)]
    pub(crate) fn undescribed(&self) -> usize {
        self.undescribed
    }

    /// Whether the connection failed by eviction ([`Connection::evict`]).
    pub(crate) fn was_evicted(&self) -> bool {
        self.error == Some(ConnectionError::Evicted)
    }

    /// True when the endpoint can forget the connection entirely.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished && !self.reset_due
    }

    /// Starts from what `other`, a live connection to the same address, measured of the path:
    /// its delay base and its round-trip time, and takes half of its congestion window (RFC
    /// 9040 sections 7 and 8: what a connection learned of a path serves the next one to the
    /// same host).
    pub(crate) fn inherit_path(&mut self, other: &mut Connection) {
        self.cc.inherit_delay_base(&other.cc);
        if self.rtt.srtt().is_none() {
            self.rtt = other.rtt.clone();
            self.rtt.reset_backoff();
        }
        self.cc.take_share_of(&mut other.cc);
    }

    /// Counters and current estimates.
    pub fn stats(&self) -> ConnectionStats {
        let mut s = self.stats;
        s.cwnd = self.cc.window() as u64;
        s.rtt = self.rtt.srtt().unwrap_or_default();
        s.rto = self.rtt.rto();
        s.queuing_delay = self.cc.queuing_delay().unwrap_or_default();
        s.mtu = self.packet_size as u32;
        s.send_buffer = self.send_buffer_size() as u64;
        s.recv_buffer = self.recv.capacity() as u64;
        s.pmtu_searching = !self.pmtu.is_converged() && self.config.pmtu_discovery;
        s
    }

    /// The earliest time `handle_timeout` should be called.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        self.timers.next()
    }

    /// Bytes the application holds from this connection outside the engine (libutp's
    /// `UTP_GET_READ_BUFFER_SIZE`); they shrink the window we advertise.
    pub fn set_external_buffered(&mut self, bytes: usize) {
        self.external_buffered = bytes;
    }

    /// Room left in the send buffer (whose size follows the congestion window, see
    /// [`autosize`]).
    fn send_space(&self) -> usize {
        self.send_buffer_size()
            .saturating_sub(self.unsent.len() + self.send.buffered_payload())
    }

    /// Whether a writer that found the send buffer full should hear [`Event::Writable`]: once
    /// a quarter of the buffer is free, not at the first free byte, so that a writer thread
    /// wakes once per large chunk rather than once per ACK (as TCP wakes a writer only when a
    /// third of its buffer is free). A quarter still leaves the sender half a window of queued
    /// data while the writer refills it.
    fn writable_again(&self) -> bool {
        let space = self.send_space();
        space > 0 && space >= self.send_buffer_size() / 4
    }

    /// Queues `data` for sending; returns how much was taken (up to the free send buffer).
    pub fn write(&mut self, data: &[u8]) -> Result<usize, StreamError> {
        if let Some(e) = self.error {
            return Err(StreamError::Connection(e));
        }
        if self.write_shutdown || self.state == State::Closed {
            return Err(StreamError::WriteClosed);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = data.len().min(self.send_space());
        if n < data.len() {
            self.write_blocked = true;
        }
        if n == 0 {
            return Err(StreamError::WouldBlock);
        }
        let chunk = payload_size(self.packet_size);
        let send = &mut self.send;
        self.unsent.push(&data[..n], chunk, || send.take_buffer());
        self.stats.bytes_written += n as u64;
        Ok(n)
    }

    /// Copies received in-order bytes into `buf`. `Ok(0)` means the peer finished sending and
    /// everything has been read, or our read side was shut down.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.recv.read(buf);
        self.bytes_read += n as u64;
        if n > 0 {
            self.readable_notified = false;
            self.maybe_window_update();
            return Ok(n);
        }
        // After the peer's FIN, or once our read side is shut down (as a TCP read after
        // SHUT_RD): the end of the stream, not a wait for data that will never be delivered.
        if self.recv.fin_reached() || self.recv.discarding() {
            return Ok(0);
        }
        if let Some(e) = self.error {
            return Err(StreamError::Connection(e));
        }
        Err(StreamError::WouldBlock)
    }

    /// Bytes ready to read.
    pub fn readable_len(&self) -> usize {
        self.recv.readable_len()
    }

    /// True when received data is waiting for its ACK.
    pub(crate) fn owes_ack(&self) -> bool {
        self.unacked_packets > 0 && !self.is_released()
    }

    /// Sends an ACK for received data now instead of waiting for the delayed-ACK timer
    /// (libutp's `utp_issue_deferred_acks`).
    pub fn flush_ack(&mut self) {
        if self.unacked_packets > 0 {
            self.ack_due = true;
        }
    }

    /// Sends an ACK now if the reader freed enough room that the peer should hear about it
    /// (RFC 9293 section 3.8.6.2.2: an update of at least two packets or half the buffer).
    fn maybe_window_update(&mut self) {
        let window = self.advertised_window();
        let threshold = (2 * payload_size(self.packet_size)).min(self.recv.capacity() / 2);
        if window >= self.last_advertised + threshold {
            self.ack_due = true;
        }
    }

    fn advertised_window(&self) -> usize {
        self.recv.window(self.external_buffered)
    }

    /// Tells the connection that the application's external buffer shrank (libutp's
    /// `utp_read_drained`).
    pub fn read_drained(&mut self) {
        self.maybe_window_update();
    }

    /// Asks for an empty data packet (libutp's `utp_write(s, NULL, 0)`): it consumes a sequence
    /// number and tells a libutp acceptor that the connection is established.
    pub fn queue_empty_packet(&mut self) -> Result<(), StreamError> {
        if let Some(e) = self.error {
            return Err(StreamError::Connection(e));
        }
        if self.write_shutdown || self.state == State::Closed {
            return Err(StreamError::WriteClosed);
        }
        self.empty_packet_due = true;
        Ok(())
    }

    /// Stops delivering incoming payload; it is acknowledged and dropped.
    pub fn shutdown_read(&mut self) {
        self.recv.discard_incoming();
    }

    /// Queuing delays of both directions and the time since the peer was last heard from.
    pub fn delays(&self, now: Instant) -> crate::proto::endpoint::Delays {
        crate::proto::endpoint::Delays {
            ours: self.cc.queuing_delay().unwrap_or_default(),
            theirs: self.cc.peer_queuing_delay().unwrap_or_default(),
            since_last_received: self
                .last_received_at
                .map(|t| now.saturating_duration_since(t)),
        }
    }

    /// An ICMP unreachable arrived for this connection.
    pub(crate) fn icmp_unreachable(&mut self, now: Instant, events: &mut EventQueue) {
        let error = if self.state == State::SynSent {
            ConnectionError::Refused
        } else {
            ConnectionError::Reset
        };
        self.fail(now, error, events);
    }

    /// Shuts down our sending side: a FIN follows the data already written.
    pub fn shutdown_write(&mut self) {
        self.write_shutdown = true;
    }

    /// Whether the peer acknowledged every byte written, and our FIN after a write shutdown.
    fn is_flushed(&self) -> bool {
        self.unsent.is_empty() && self.send.is_empty() && (!self.write_shutdown || self.fin_acked)
    }

    /// Whether everything written is acknowledged; if not, `Event::Flushed` is owed for when it
    /// is. A failed connection never will be: its error.
    pub fn poll_flushed(&mut self) -> Result<bool, StreamError> {
        if let Some(e) = self.error {
            return Err(StreamError::Connection(e));
        }
        let flushed = self.is_flushed();
        self.flush_wanted = !flushed;
        Ok(flushed)
    }

    /// Reports `Event::Flushed` if it is owed and due (after an acknowledgement).
    fn check_flushed(&mut self, events: &mut EventQueue) {
        if self.flush_wanted && self.is_flushed() {
            self.flush_wanted = false;
            events.push_back((self.handle, Event::Flushed));
        }
    }

    /// Closes the connection gracefully: our FIN follows the data already written, incoming
    /// data is dropped from now on, and `Closed` is reported when the FIN is acknowledged (or
    /// at once when there is nothing to finish).
    pub fn close(&mut self, now: Instant, events: &mut EventQueue) {
        if self.closed_by_app {
            return;
        }
        self.closed_by_app = true;
        self.write_shutdown = true;
        self.recv.discard_incoming();
        match self.state {
            State::SynSent | State::Failed => self.release(now, events, false),
            State::Connected => self.check_close(now, events),
            State::Closed => {}
        }
    }

    /// Aborts the connection: a RESET goes to the peer and `Closed` is reported at once.
    pub fn abort(&mut self, now: Instant, events: &mut EventQueue) {
        if self.state == State::Closed {
            return;
        }
        self.closed_by_app = true;
        if self.state != State::SynSent || !self.send.is_empty() {
            self.reset_due = true;
        }
        self.release(now, events, false);
    }

    /// Reports the end to the application, and stays around for `linger` when `linger` is
    /// set, to acknowledge retransmissions of the peer's FIN.
    fn release(&mut self, now: Instant, events: &mut EventQueue, linger: bool) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.timers.stop_all();
        self.unsent.clear();
        log::info!("connection to {} (id {}) closed", self.remote, self.recv_id);
        events.push_back((self.handle, Event::Closed));
        if linger {
            self.timers.set(Timer::Linger, now + self.config.linger);
        } else {
            self.finished = true;
        }
    }

    /// Fails the connection with `error`, reported once; closes it when the application has
    /// already asked for that.
    pub(crate) fn fail(&mut self, now: Instant, error: ConnectionError, events: &mut EventQueue) {
        if self.error.is_some() || self.state == State::Closed {
            return;
        }
        self.error = Some(error);
        log::info!(
            "connection to {} (id {}) failed: {error}",
            self.remote,
            self.recv_id
        );
        events.push_back((self.handle, Event::Error(error)));
        self.state = State::Failed;
        self.timers.stop_all();
        self.unsent.clear();
        if self.closed_by_app {
            self.release(now, events, false);
        }
    }

    /// After a close: once our FIN is acknowledged the connection is released, lingering to
    /// re-acknowledge the peer's FIN.
    fn check_close(&mut self, now: Instant, events: &mut EventQueue) {
        if self.closed_by_app && self.fin_acked && self.state == State::Connected {
            self.release(now, events, true);
        }
    }

    /// Restarts the idle timer: the peer was just heard from.
    fn arm_idle(&mut self, now: Instant) {
        if let Some(idle) = self.config.idle_timeout {
            self.timers.set(Timer::Idle, now + idle);
        }
    }

    fn arm_keepalive(&mut self, now: Instant) {
        if let Some(k) = self.config.keepalive {
            self.timers.set(Timer::Keepalive, now + k);
        }
    }

    /// Handles expired timers.
    pub(crate) fn handle_timeout(&mut self, now: Instant, events: &mut EventQueue) {
        for timer in self.timers.expire(now) {
            match timer {
                Timer::Retransmit => self.on_retransmit_timeout(now, events),
                Timer::Ack => self.ack_due = true,
                Timer::Keepalive => {
                    if self.state == State::Connected && !self.fin_sent {
                        self.keepalive_due = true;
                    }
                    self.arm_keepalive(now);
                    // Nothing sent for a keepalive interval: the connection is idle, and gives
                    // back what it kept for reuse (tests/idle_memory.rs).
                    self.release_idle_memory();
                }
                Timer::Persist => {
                    if self.peer_window < self.packet_size && !self.unsent.is_empty() {
                        self.probe_due = true;
                    }
                }
                Timer::Linger => self.finished = true,
                // Nothing to do: the endpoint polls the connection for transmits after this.
                Timer::Pace => {}
                Timer::Loss => self.detect_losses(now),
                Timer::Pmtu => self.on_pmtu_timer(now),
                Timer::Confirm => {
                    if self.state == State::Connected {
                        self.confirm(events);
                    }
                }
                Timer::Idle => {
                    if self.state == State::Connected {
                        self.fail(now, ConnectionError::TimedOut, events);
                    }
                }
            }
        }
    }

    /// Frees the capacity kept for reuse by empty queues and buffer pools. The next packet
    /// allocates again; an idle connection then holds little beyond its own struct.
    fn release_idle_memory(&mut self) {
        if self.send.is_empty() {
            self.send.release_pool();
        }
        self.unsent.release_idle();
        self.recv.release_idle();
        if self.early.is_empty() {
            self.early = Vec::new();
        }
    }

    /// RFC 8985 reordering window: zero until the path is seen reordering, then a quarter of
    /// the minimum RTT times the multiplier, never more than the smoothed RTT.
    fn reo_wnd(&self) -> core::time::Duration {
        if !self.reordering_seen {
            return core::time::Duration::ZERO;
        }
        let min_rtt = self.rtt.min_rtt().unwrap_or_default();
        let srtt = self.rtt.srtt().unwrap_or(min_rtt);
        (min_rtt / 4 * self.reo_wnd_mult).min(srtt)
    }

    /// Runs RACK loss detection and arms the reorder timer for the next candidate.
    pub(crate) fn detect_losses(&mut self, now: Instant) {
        let Some(rtt) = self.rtt.latest().or(self.rtt.srtt()) else {
            return;
        };
        let (lost, next) = self.send.detect_losses(now, rtt, self.reo_wnd());
        // A lost probe was too big, not a sign of congestion.
        let probe_lost = self.fail_probe_if_lost(now);
        if lost > usize::from(probe_lost) {
            self.on_congestion_loss(now);
        }
        match next {
            Some(at) => self.timers.set(Timer::Loss, at),
            None => self.timers.stop(Timer::Loss),
        }
    }

    /// Packets were judged lost: the window is cut once per loss episode, which lasts until
    /// everything sent before the cut is acknowledged.
    pub(crate) fn on_congestion_loss(&mut self, now: Instant) {
        if self
            .recovery_end
            .is_some_and(|end| self.send.base().precedes(end))
        {
            return;
        }
        if self.peer_window < self.packet_size {
            // The peer's buffer is full: what it dropped was a window probe that did not fit
            // (flow control), not a sign of congestion.
            return;
        }
        self.recovery_end = Some(self.send.next_seq());
        let srtt = self.rtt.srtt().unwrap_or(self.config.initial_rto);
        self.cc.on_loss(now, srtt);
    }

    fn on_retransmit_timeout(&mut self, now: Instant, events: &mut EventQueue) {
        if self.send.is_empty() {
            return;
        }
        // A probe still unanswered has failed. When probes are all that is outstanding, the
        // timeout is theirs, not the path's: resend them small, without backoff or window cut.
        let probe_pending = self.probe_seq.is_some();
        self.fail_probe(now);
        if probe_pending && self.send.len() == self.send.probe_count() {
            self.send.mark_all_lost();
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
            return;
        }
        // A peer that keeps answering while its window is closed is alive: the timeouts are
        // window probes being dropped, not a dead path (RFC 9293 section 3.8.6.1).
        let probing_closed_window = self.peer_window < self.packet_size && self.heard_since_timeout;
        self.heard_since_timeout = false;
        // Flow control, not congestion, when probing a closed window: the peer dropped what did
        // not fit its full buffer. The window stays as it is for when the reader catches up and
        // the probe is resent after a backed-off timeout; the timeout does not count towards
        // giving up.
        let congestion = !probing_closed_window;
        if congestion {
            self.consecutive_timeouts += 1;
            let limit = if self.state == State::SynSent {
                self.config.max_syn_retransmits
            } else {
                self.config.max_retransmits
            };
            if self.consecutive_timeouts > limit {
                let error = ConnectionError::TimedOut;
                self.fail(now, error, events);
                return;
            }
            if self.consecutive_timeouts == 1 {
                self.window_before_timeouts = self.cc.window();
            }
        } else {
            self.consecutive_timeouts = 0;
            // A peer may keep its window closed forever while answering every probe: that
            // costs us the connection and its send buffer for good, so it is bounded too.
            self.window_probes += 1;
            if self
                .config
                .max_window_probes
                .is_some_and(|limit| self.window_probes > limit)
            {
                log::debug!(
                    "connection to {} (id {}): peer window closed for {} probes",
                    self.remote,
                    self.recv_id,
                    self.window_probes
                );
                self.fail(now, ConnectionError::TimedOut, events);
                return;
            }
        }
        self.stats.timeouts += 1;
        log::debug!(
            "connection to {} (id {}): retransmission timeout {} ({} packets outstanding{})",
            self.remote,
            self.recv_id,
            self.consecutive_timeouts,
            self.send.len(),
            if congestion {
                ""
            } else {
                ", peer window closed"
            }
        );
        self.rtt.backoff();
        if congestion {
            self.cc.on_timeout(now);
            self.recovery_end = Some(self.send.next_seq());
            self.undescribed = 0;
        }
        self.send.mark_all_lost();
        if congestion {
            self.dup_acks = 0;
            if self.state == State::Connected {
                self.check_black_hole();
            }
        }
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
    }
}
