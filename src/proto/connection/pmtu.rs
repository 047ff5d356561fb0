//! Path-MTU discovery as a connection runs it: sending probes, reading their fate from ACKs,
//! loss detection and timers, following ICMP, and the black-hole fallback. The search itself is
//! [`PmtuSearch`] (RFC 8899 DPLPMTUD).
//!
//! A probe is an empty data packet padded to the probe size with an extension nobody interprets
//! ([`encode_padded`]), sent with the don't-fragment bit, one at a time, and only while data
//! waits to be sent (the size matters only then). It consumes a sequence number and is
//! acknowledged like data. When it is lost, or its fate cannot be known (it had to be resent),
//! its size failed: it is resent as a plain empty data packet without DF, and the window is not
//! cut for it (a probe's loss says nothing about congestion, RFC 8899 section 4.4).
//!
//! Black hole: [`BLACK_HOLE_TIMEOUTS`] retransmission timeouts in a row with a packet above the
//! floor at the head of the queue raise the suspicion that the confirmed size no longer gets
//! through (a route change, a tunnel that drops fragments, an ICMP-blocking path). A small
//! packet then asks the peer for an ACK; if the ACK comes while the large packets stay
//! unacknowledged, small packets pass and large ones vanish (an outage would lose both, and is
//! left to the retransmission timer). The packet size falls to the floor, the data of the
//! outstanding packets is cut into packets of that size under the same sequence numbers (when
//! [`SendQueue::repacketize`] finds that safe), and the search starts again from the floor.
//!
//! The re-cut changes which bytes a sequence number carries, so it must never meet an earlier
//! copy of the same packet, nor an acknowledgement of one. It waits until no copy of the
//! outstanding packets can still be in the network ([`datagram_lifetime`] after the last
//! transmission) and no ACK of one can still be on its way (a second lifetime, plus the
//! peer's ACK delay), sending nothing but ACKs meanwhile. Every ACK that arrives after that
//! was sent once the peer's receive state for those sequence numbers was final, so a second
//! ping's answer tells exactly what the peer holds: the re-cut goes ahead only if it holds
//! none of them (its cumulative ACK is unchanged and it reports nothing out of order). A
//! large packet that was only late is acknowledged during the wait, which calls the re-cut
//! off; no answer to the second ping is an outage, left to the retransmission timer. Without
//! these rules a late large packet, or a late ACK of one, made the peer's stream repeat or
//! skip bytes (found by the endpoint fuzz target).
//!
//! [`SendQueue::repacketize`]: crate::proto::reliability::send_queue::SendQueue::repacketize

use super::{payload_size, Connection, Timer, Written};
use crate::proto::config::Config;
use crate::proto::config::MIN_PACKET_SIZE;
use crate::proto::mtu::{PmtuSearch, BASE, ETHERNET_V4, ETHERNET_V6, IPV4_FLOOR, IPV6_FLOOR};
use crate::proto::packet::{
    encode_padded, encode_prefix, Extensions, Header, PacketType, HEADER_LEN,
};
use crate::proto::time::Instant;
use core::net::SocketAddr;
use core::time::Duration;

/// Consecutive retransmission timeouts with a packet above the floor outstanding after which a
/// black hole is suspected and the ping sent. Our own choice: one timeout may be a burst of
/// loss; Linux's TCP waits for `tcp_retries1` (3) before its black-hole step (`tcp_write_timeout`
/// calls `tcp_mtu_probing`), but it has no confirmation, where the ping's answer keeps an outage
/// from passing for a black hole. RFC 8899 section 4.3 leaves the count to the implementation.
pub const BLACK_HOLE_TIMEOUTS: u32 = 2;

/// The least time a datagram is assumed to outlive its sending in the network: 2 s. Our own
/// choice: far above the queueing delay LEDBAT keeps (RFC 6817's 100 ms target) and the deepest
/// router buffers commonly measured (about a second), while a black-hole fallback that waits
/// for it stalls the connection only briefly. TCP's 2-minute MSL (RFC 9293 section 3.4.2) guards
/// against reuse of a whole connection's sequence space, a far rarer event.
pub const MIN_DATAGRAM_LIFETIME: Duration = Duration::from_secs(2);

/// The longest a peer may hold an ACK: 500 ms, the bound RFC 1122 section 4.2.3.2 sets for
/// delayed ACKs.
pub const MAX_PEER_ACK_DELAY: Duration = Duration::from_millis(500);

/// How long a datagram sent on a path with smoothed round-trip time `srtt` may still be in the
/// network: [`MIN_DATAGRAM_LIFETIME`], or four round trips where the path queues longer.
pub fn datagram_lifetime(srtt: Duration) -> Duration {
    MIN_DATAGRAM_LIFETIME.max(srtt.saturating_mul(4))
}

/// Where a confirmed black hole's re-cut stands (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recut {
    /// Waiting until no copy of an outstanding packet, nor an ACK of one, can arrive.
    Waiting { until: Instant },
    /// The second ping went out; its answer (or any ACK) decides, or nothing comes by
    /// `deadline` (an outage).
    Asking { deadline: Instant },
}

/// The search for a new connection to `remote` under `config`. IPv4-mapped IPv6 addresses (a
/// dual-stack socket) travel as IPv4 and take the IPv4 sizes.
pub(super) fn search_for(remote: SocketAddr, config: &Config) -> PmtuSearch {
    let ipv4 = match remote {
        SocketAddr::V4(_) => true,
        SocketAddr::V6(a) => a.ip().to_ipv4_mapped().is_some(),
    };
    let (floor, ceiling, common) = if ipv4 {
        (IPV4_FLOOR, config.max_packet_size_v4, ETHERNET_V4)
    } else {
        (IPV6_FLOOR, config.max_packet_size_v6, ETHERNET_V6)
    };
    PmtuSearch::new(
        floor,
        BASE,
        ceiling,
        common,
        config.pmtu_raise_interval,
        config.pmtu_discovery,
    )
}

impl Connection {
    /// Changes the size of the packets built from now on (packets already sent keep theirs).
    pub(super) fn set_packet_size(&mut self, size: usize) {
        if size == self.packet_size {
            return;
        }
        log::debug!(
            target: "utp::mtu",
            "connection to {} (id {}): packet size {} -> {size}",
            self.remote,
            self.recv_id,
            self.packet_size
        );
        self.packet_size = size;
        self.cc.set_mss(size);
        self.send.set_payload_capacity(payload_size(size));
        let send = &mut self.send;
        self.unsent
            .rechunk(payload_size(size), || send.take_buffer());
        self.pmtu_learned = true;
    }

    /// Starts from what an earlier connection to the same host found (the endpoint's cache).
    pub(crate) fn resume_pmtu(&mut self, now: Instant, confirmed: usize, too_big: usize) {
        self.pmtu.resume(now, confirmed, too_big);
        let size = self.pmtu.current();
        self.set_packet_size(size);
        self.pmtu_learned = false;
        self.arm_pmtu_timer(now);
    }

    /// The search's bounds when it learned something since the last call (a size confirmed or
    /// failed, convergence, a fall), for the endpoint's per-destination cache.
    pub(crate) fn take_pmtu_learned(&mut self) -> Option<(usize, usize)> {
        core::mem::take(&mut self.pmtu_learned).then(|| self.pmtu.bounds())
    }

    /// Sends the next path-MTU probe if the search wants one and it may go now.
    pub(super) fn send_probe(&mut self, now: Instant, buf: &mut [u8]) -> Option<Written> {
        // Data waiting to be sent comes before any FIN, so a probe never follows the FIN.
        if self.fin_sent || self.unsent.is_empty() {
            return None;
        }
        let size = self.pmtu.next_probe(now)?;
        if size > buf.len() {
            // The caller's buffer bounds every datagram: the size cannot be sent at all.
            self.pmtu.on_probe_sent(size);
            self.pmtu.on_probe_lost(now);
            self.arm_pmtu_timer(now);
            return None;
        }
        let in_flight = self.send.in_flight();
        if in_flight > 0 && in_flight + HEADER_LEN > self.send_window() {
            return None;
        }
        if !self.pacing_allows(now, size) {
            return None;
        }
        self.pacer.on_sent(now, size);
        let seq = self.send.push_probe(now);
        let header = self.header(now, PacketType::Data, seq);
        let len = encode_padded(&header, size, buf).ok()?;
        self.pmtu.on_probe_sent(size);
        self.probe_seq = Some(seq);
        self.stats.pmtu_probes += 1;
        self.note_sent(now, 0, false);
        self.arm_retransmit(now);
        self.arm_pmtu_timer(now);
        log::trace!(
            target: "utp::mtu",
            "connection to {}: probe of {size} bytes (seq {})",
            self.remote,
            seq.0
        );
        Some(Written {
            len,
            dont_fragment: true,
        })
    }

    /// After an ACK: confirms the probe if the peer has it.
    pub(super) fn check_probe_acked(&mut self, now: Instant) {
        let Some(seq) = self.probe_seq else {
            return;
        };
        let delivered = seq.precedes(self.send.base())
            || self.send.get(seq).is_some_and(|p| p.sacked && p.probe);
        if !delivered {
            return;
        }
        self.probe_seq = None;
        if let Some(size) = self.pmtu.on_probe_acked(now) {
            self.set_packet_size(size);
        }
        self.pmtu_learned = true;
        self.arm_pmtu_timer(now);
    }

    /// If the outstanding probe's packet was judged lost, the probe failed. Returns whether it
    /// did (that loss is no congestion signal).
    pub(super) fn fail_probe_if_lost(&mut self, now: Instant) -> bool {
        let lost = self
            .probe_seq
            .is_some_and(|seq| self.send.get(seq).is_some_and(|p| p.lost));
        if lost {
            self.fail_probe(now);
        }
        lost
    }

    /// The outstanding probe failed (lost, or resent so that its fate is unknown).
    pub(super) fn fail_probe(&mut self, now: Instant) {
        if self.probe_seq.take().is_none() {
            return;
        }
        self.stats.pmtu_probes_lost += 1;
        self.pmtu.on_probe_lost(now);
        self.pmtu_learned = true;
        self.arm_pmtu_timer(now);
    }

    /// [`Timer::Pmtu`] expired: the probe took too long (its packet is resent small), or a
    /// converged search may probe again (the next poll sends the probe).
    pub(super) fn on_pmtu_timer(&mut self, now: Instant) {
        match self.recut {
            Some(Recut::Waiting { until }) if now >= until => {
                self.black_hole_ping_due = true;
                let deadline = now + self.rtt.rto();
                self.recut = Some(Recut::Asking { deadline });
            }
            Some(Recut::Asking { deadline }) if now >= deadline => {
                log::info!(
                    target: "utp::mtu",
                    "connection to {} (id {}): no answer after the black-hole wait; no re-cut",
                    self.remote,
                    self.recv_id
                );
                self.recut = None;
                self.timers.set(Timer::Retransmit, now);
            }
            _ => {}
        }
        if self.recut.is_some() {
            self.arm_pmtu_timer(now);
            return;
        }
        if let Some(seq) = self.probe_seq {
            self.send.mark_lost(seq);
            self.fail_probe(now);
            return;
        }
        self.pmtu.raise_if_due(now);
        self.arm_pmtu_timer(now);
    }

    /// Arms [`Timer::Pmtu`]: the probe's deadline, or the raise time of a converged search.
    pub(super) fn arm_pmtu_timer(&mut self, now: Instant) {
        if let Some(Recut::Waiting { until: at } | Recut::Asking { deadline: at }) = self.recut {
            self.timers.set(Timer::Pmtu, at);
        } else if let Some(seq) = self.probe_seq {
            // Two round trips and our delayed ACK, but never less than the retransmission
            // timeout: RACK usually judges the probe first, since data follows it, so this only
            // decides a probe at the tail. The RTO floor matters when the round-trip estimate
            // comes from the handshake alone and the peer delays its ACKs longer than we do:
            // Transmission 3.00 acknowledged probes after 120 ms and more on a loopback path of
            // 0.2 ms, so a shorter deadline declared every probe lost (interop suite). Our own
            // choice.
            let srtt = self.rtt.srtt().unwrap_or(self.config.initial_rto);
            let sent = self.send.get(seq).map_or(now, |p| p.last_sent);
            let wait = (srtt * 2 + self.config.delayed_ack).max(self.rtt.rto());
            self.timers.set(Timer::Pmtu, sent + wait);
        } else if let Some(at) = self.pmtu.raise_at().filter(|&at| at > now) {
            self.timers.set(Timer::Pmtu, at);
        } else {
            self.timers.stop(Timer::Pmtu);
        }
    }

    /// ICMP "fragmentation needed" / "packet too big" or a local `EMSGSIZE`: packets above
    /// `max` bytes do not fit. The packet size falls at once when larger; a larger probe
    /// outstanding has failed and is resent small. Values below the engine's minimum packet are
    /// ignored.
    pub(crate) fn lower_packet_size(&mut self, now: Instant, max: usize) {
        if max < MIN_PACKET_SIZE {
            return;
        }
        let probe_too_big = self.pmtu.probe_in_flight().is_some_and(|p| p > max);
        if probe_too_big {
            if let Some(seq) = self.probe_seq {
                self.send.mark_lost(seq);
            }
            self.fail_probe(now);
        }
        if let Some(size) = self.pmtu.on_packet_too_big(now, max, MIN_PACKET_SIZE) {
            log::info!(
                target: "utp::mtu",
                "connection to {}: packet size {} -> {size} (ICMP)",
                self.remote,
                self.packet_size
            );
            self.set_packet_size(size);
        }
        self.pmtu_learned = true;
        self.arm_pmtu_timer(now);
    }

    /// After a retransmission timeout: the black-hole check (see the module documentation).
    /// Repeated timeouts alone may be an outage, so they only raise the suspicion; a small
    /// packet then asks the peer for an ACK ([`Connection::send_black_hole_ping`]), and only its
    /// answer, while the large packets still go unacknowledged, confirms the black hole.
    pub(super) fn check_black_hole(&mut self) {
        if self.consecutive_timeouts < BLACK_HOLE_TIMEOUTS {
            return;
        }
        let floor = self.pmtu.floor();
        if self.packet_size <= floor || self.send.front().is_none_or(|p| p.size() <= floor) {
            return;
        }
        self.black_hole_suspected = true;
        self.black_hole_ping_due = true;
    }

    /// Sends the black-hole check's ping: an empty data packet carrying the sequence number the
    /// peer acknowledged last. The peer takes it for a duplicate and answers with an ACK (we
    /// do; libutp's `utp_process_incoming` schedules an ACK for a packet just behind its
    /// `ack_nr`). It consumes no sequence number and is never resent.
    pub(super) fn send_black_hole_ping(&mut self, now: Instant, buf: &mut [u8]) -> Option<Written> {
        if !core::mem::take(&mut self.black_hole_ping_due) {
            return None;
        }
        let header = self.header(now, PacketType::Data, self.send.base().prev());
        let len = encode_prefix(&header, &Extensions::default(), buf).ok()?;
        self.black_hole_ping_sent = Some(header.timestamp);
        self.note_sent(now, 0, false);
        Some(Written {
            len,
            dont_fragment: false,
        })
    }

    /// A packet from the peer while a black hole is suspected: progress clears the suspicion;
    /// an ACK of nothing new that answers the ping confirms it.
    ///
    /// Only the ping's own answer may: the fallback re-cuts the outstanding data under the same
    /// sequence numbers, which corrupts the stream if a large packet is merely late, and an ACK
    /// the network delayed from before the ping looks the same (found by the endpoint fuzz
    /// target, whose network held datagrams across two timeouts). A peer's ACK echoes the
    /// timestamp of the packet that prompted it: its own timestamp minus its `timestamp_diff`
    /// is that packet's send time in our clock, plus the time the peer held the ACK. For the
    /// ping's answer that is at least the ping's timestamp; for an ACK of anything sent
    /// earlier (at least one retransmission timeout before the ping) it is less, unless the
    /// peer sat on it for that long.
    pub(super) fn on_black_hole_evidence(&mut self, now: Instant, header: &Header, sack: bool) {
        if let Some(Recut::Asking { .. }) = self.recut {
            self.on_recut_answer(now, header, sack);
            return;
        }
        if !self.black_hole_suspected {
            return;
        }
        if self.consecutive_timeouts == 0 {
            self.black_hole_suspected = false;
            return;
        }
        let Some(ping) = self.black_hole_ping_sent else {
            return;
        };
        let echo = header.timestamp.0.wrapping_sub(header.timestamp_diff);
        let answers_ping = echo.wrapping_sub(ping.0) < u32::MAX / 2;
        if header.packet_type == PacketType::State
            && header.ack_nr == self.send.base().prev()
            && answers_ping
        {
            self.black_hole_suspected = false;
            self.black_hole_ping_sent = None;
            self.fall_back_from_black_hole(now);
        }
    }

    /// Small packets pass and large ones vanish: falls back to the floor and schedules the
    /// re-cut of the outstanding data for when no copy of it, nor an ACK of one, can arrive.
    fn fall_back_from_black_hole(&mut self, now: Instant) {
        let Some(size) = self.pmtu.on_black_hole() else {
            return;
        };
        self.stats.pmtu_black_holes += 1;
        log::info!(
            target: "utp::mtu",
            "connection to {} (id {}): full-size packets vanish; packet size {} -> {size}",
            self.remote,
            self.recv_id,
            self.packet_size
        );
        self.probe_seq = None;
        self.set_packet_size(size);
        if self.send.can_repacketize(size) {
            let last = self.send.latest_transmission().unwrap_or(now);
            let srtt = self.rtt.srtt().unwrap_or(self.config.initial_rto);
            let lifetime = datagram_lifetime(srtt);
            let until = last + lifetime + lifetime + MAX_PEER_ACK_DELAY;
            self.recut = Some(Recut::Waiting { until });
            // Nothing is judged lost or resent meanwhile: a resent copy would start its
            // lifetime again.
            self.timers.stop(Timer::Retransmit);
            self.timers.stop(Timer::Loss);
        }
        self.arm_pmtu_timer(now);
    }

    /// Whether a black-hole re-cut is pending (nothing but ACKs and its ping may be sent).
    pub(super) fn recut_pending(&self) -> bool {
        self.recut.is_some()
    }

    /// The peer acknowledged outstanding data: the large packets were late, not dropped, so a
    /// pending re-cut is called off (their sequence numbers keep their bytes).
    pub(super) fn cancel_recut(&mut self) {
        if self.recut.take().is_some() {
            log::info!(
                target: "utp::mtu",
                "connection to {} (id {}): a large packet was acknowledged; no re-cut",
                self.remote,
                self.recv_id
            );
        }
    }

    /// A packet from the peer after the wait: its ACK describes the peer's final state for the
    /// outstanding sequence numbers. Nothing of them acknowledged and nothing held out of order:
    /// the re-cut goes ahead. Anything held: the re-cut could meet it, so it is called off.
    /// (Progress is [`Connection::cancel_recut`]'s.)
    fn on_recut_answer(&mut self, now: Instant, header: &Header, sack: bool) {
        if header.ack_nr != self.send.base().prev() {
            return;
        }
        self.recut = None;
        if sack {
            log::info!(
                target: "utp::mtu",
                "connection to {} (id {}): the peer holds data out of order; no re-cut",
                self.remote,
                self.recv_id
            );
            self.timers.set(Timer::Retransmit, now);
            return;
        }
        self.recut(now);
    }

    /// Cuts the outstanding data into packets of the current size and resends it.
    fn recut(&mut self, now: Instant) {
        if let Some(bytes) = self.send.repacketize(self.packet_size) {
            self.unsent.prepend(&bytes, payload_size(self.packet_size));
            self.recovery_end = None;
            self.undescribed = 0;
            self.rtt.reset_backoff();
            self.timers.stop(Timer::Loss);
            // The packets vanished for their size, not for congestion.
            self.cc
                .resume_after_non_congestion_timeouts(self.window_before_timeouts);
        }
        if !self.send.is_empty() {
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        }
        self.arm_pmtu_timer(now);
    }
}
