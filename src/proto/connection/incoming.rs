//! The receive path of a connection: what an incoming packet does to it (BEP 29 "Connection
//! setup", "Acks", "Selective ACK"; RFC 6817 for the delay samples).

use super::{payload_size, Connection, EventQueue, Rejected, State, Timer, RESET_SEQ_SLACK};
use crate::proto::config::{ACK_SPACING_FACTOR, MIN_ADAPTIVE_ACK_DELAY, QUICK_ACK_DELAY};
use crate::proto::error::ConnectionError;
use crate::proto::event::Event;
use crate::proto::packet::{Packet, PacketType};
use crate::proto::reliability::recv_buffer::Inserted;
use crate::proto::seq::SeqNr;
use crate::proto::time::Instant;

/// Duplicate ACKs that signal a loss when the peer sends no selective ACKs (RFC 5681
/// section 3.2).
const DUP_ACK_THRESHOLD: u32 = 3;

/// Bits in libutp's selective-ACK masks: it always sends 4 bytes.
const LIBUTP_SACK_BITS: usize = 32;

/// Bits at the end of a 4-byte selective-ACK mask that libutp never fills: it describes only the
/// 30 packets after the first missing one (`send_ack` in libutp's `utp_internal.cpp` loops over
/// `min(14 + 16, inbuf.size())` bits) and sends the last 2 bits clear, so they say nothing.
const UNDESCRIBED_SACK_BITS: usize = 2;

/// Packets from the acceptor kept while our SYN-ACK is still outstanding (they overtook it).
const MAX_EARLY_PACKETS: usize = 8;

/// Cap of the reordering-window multiplier (RFC 8985 section 6.2 step 4 bounds the window by
/// the smoothed RTT; this keeps the multiplier itself small).
const MAX_REO_WND_MULT: u32 = 16;

impl Connection {
    /// Handles a packet routed to this connection.
    pub(crate) fn handle_packet(
        &mut self,
        now: Instant,
        packet: &Packet<'_>,
        events: &mut EventQueue,
    ) -> Option<Rejected> {
        let header = &packet.header;
        self.stats.packets_received += 1;
        self.last_received_at = Some(now);
        if packet.close_reason.is_some() {
            // libtorrent's close-reason extension (with a FIN or RESET): informational, kept
            // for the application.
            self.stats.peer_close_reason = packet.close_reason;
        }

        if self.state == State::Closed {
            // Lingering: keep acknowledging the peer's retransmissions (of its FIN above all).
            match header.packet_type {
                PacketType::Reset => self.finished = true,
                PacketType::Data | PacketType::Fin => {
                    self.recv
                        .insert(header.seq_nr, &[], header.packet_type == PacketType::Fin);
                    self.ack_due = true;
                }
                _ => {}
            }
            return None;
        }

        match header.packet_type {
            PacketType::Reset => {
                if !self.reset_is_plausible(header.ack_nr) {
                    log::debug!(
                        "connection to {} (id {}): RESET acknowledging {} ignored (sent {}..{})",
                        self.remote,
                        self.recv_id,
                        header.ack_nr.0,
                        self.send.base().0,
                        self.send.next_seq().0
                    );
                    self.stats.resets_ignored += 1;
                    return Some(Rejected::Reset);
                }
                let error = if self.state == State::SynSent {
                    ConnectionError::Refused
                } else {
                    ConnectionError::Reset
                };
                self.fail(now, error, events);
                return None;
            }
            PacketType::Syn => {
                // A retransmitted SYN: our SYN-ACK was lost. Answer it again (libutp ignores
                // it, and the initiator's connect fails after 21 s).
                if let Some((_, syn_seq)) = self.syn_ack {
                    if header.seq_nr == syn_seq {
                        self.syn_ack_due = true;
                    }
                }
                return None;
            }
            _ => {}
        }
        if self.state == State::Failed {
            return None;
        }

        // The timestamp difference we echo (BEP 29 timestamp_difference_microseconds), and the
        // peer-direction delay sample used to detect clock drift.
        self.reply_micro = if header.timestamp.0 == 0 {
            0
        } else {
            now.wire().wrapping_since(header.timestamp)
        };
        if self.reply_micro != 0 {
            self.cc.on_peer_delay_sample(now, self.reply_micro);
        }

        if self.state == State::SynSent {
            // Only the SYN-ACK (an ST_STATE acknowledging our SYN) completes the handshake. Data
            // arriving first is dropped: we cannot know the peer's first sequence number from it
            // and it will be resent.
            let syn_seq = self.send.base();
            if header.packet_type != PacketType::State || header.ack_nr != syn_seq {
                // The acceptor may send before its SYN-ACK reaches us (reordering): keep a few
                // such packets and replay them once the handshake completes.
                if matches!(header.packet_type, PacketType::Data | PacketType::Fin)
                    && header.ack_nr == syn_seq
                    && self.early.len() < MAX_EARLY_PACKETS
                {
                    let mut payload = self.send.take_buffer();
                    payload.extend_from_slice(packet.payload);
                    self.early.push((*header, payload));
                }
                return None;
            }
            self.recv.set_ack_nr(header.seq_nr.prev());
            self.state = State::Connected;
            self.consecutive_timeouts = 0;
            // Acknowledge the SYN-ACK at once: the acceptor learns that we are no spoofed SYN
            // (it confirms the connection, see `Event::Confirmed`) without waiting for our data.
            self.ack_due = true;
            log::info!(
                "connection to {} (id {}) established",
                self.remote,
                self.recv_id
            );
            events.push_back((self.handle, Event::Connected));
            self.arm_keepalive(now);
            self.arm_idle(now);
            self.process_ack(now, packet, events, false);
            for (header, payload) in core::mem::take(&mut self.early) {
                let early = Packet {
                    header,
                    selective_ack: None,
                    close_reason: None,
                    payload: &payload,
                };
                self.handle_packet(now, &early, events);
            }
            return None;
        }

        if !self.send.ack_is_plausible(header.ack_nr) || !self.sack_is_plausible(packet) {
            // Acknowledges something we never sent: forged, from another connection, or an
            // optimistic ACK meant to inflate our window.
            self.stats.implausible_acks += 1;
            return Some(Rejected::Ack);
        }
        if self.half_open && self.ack_names_sent(header.ack_nr) {
            // The peer acknowledges our SYN-ACK's sequence number (or later): it received it.
            self.half_open = false;
            self.confirm(events);
        }
        self.heard_since_timeout = true;
        if self.state == State::Connected {
            self.arm_idle(now);
        }
        let was_closed = self.peer_window < self.packet_size;
        let window_grew = header.window as usize > self.peer_window;
        self.peer_window = header.window as usize;
        if self.peer_window >= self.packet_size {
            self.timers.stop(Timer::Persist);
            self.probe_due = false;
            self.window_probes = 0;
            if was_closed {
                self.window_reopened(now);
            }
        }
        self.process_ack(now, packet, events, window_grew);
        self.on_black_hole_evidence(now, header, packet.selective_ack.is_some());

        match header.packet_type {
            PacketType::Data | PacketType::Fin => self.process_data(now, packet, events),
            _ => {}
        }
        None
    }

    /// Whether a RESET acknowledging `ack_nr` can be genuine: `ack_nr` lies within
    /// [`RESET_SEQ_SLACK`] before the oldest unacknowledged sequence number and the next one
    /// (which our ST_STATE packets carry). Any RESET ends a half-open connection: an initiator
    /// that gives up before our SYN-ACK reaches it cannot know our sequence numbers (ours then
    /// sends `ack_nr` 0), and a half-open connection is evicted by any SYN flood anyway.
    fn reset_is_plausible(&self, ack_nr: SeqNr) -> bool {
        let next = self.send.next_seq();
        self.is_half_open() || ack_nr.within(self.send.base().sub(RESET_SEQ_SLACK), next)
    }

    /// Whether `ack_nr` lies within what we have sent and not had acknowledged: from the last
    /// acknowledged sequence number (`base - 1`, the SYN-ACK's number less one before anything
    /// was) to the last sent.
    fn ack_names_sent(&self, ack_nr: SeqNr) -> bool {
        ack_nr.within(self.send.base().prev(), self.send.next_seq().prev())
    }

    /// A selective ACK may only mention packets we sent: a bit set for a sequence number at or
    /// after `next_seq` is forged (a genuine receiver sets bits only for packets it holds).
    /// Bounded work: a mask has at most 2016 bits (the extension's length byte).
    fn sack_is_plausible(&self, packet: &Packet<'_>) -> bool {
        let Some(sack) = packet.selective_ack else {
            return true;
        };
        let Some(highest) = sack.iter_set().last() else {
            return true;
        };
        // `highest` < 2016, so the offset fits a sequence number and stays far below half the
        // space from `ack_nr`, which is at most `next_seq - 1` here.
        let seq = packet.header.ack_nr.add(2 + highest as u16);
        seq.precedes(self.send.next_seq())
    }

    /// Applies the acknowledgement information of `packet`. `window_grew`: its advertised
    /// window is larger than the one before (a window update, not a sign of delivery).
    fn process_ack(
        &mut self,
        now: Instant,
        packet: &Packet<'_>,
        events: &mut EventQueue,
        window_grew: bool,
    ) {
        let header = &packet.header;
        let flight_before = self.send.in_flight();
        // A copy made by the network carries the same timestamp: only distinct ACKs count.
        let distinct = header.timestamp != self.last_ack_timestamp;
        let mut acked = self.send.ack_cumulative(now, header.ack_nr);
        self.stats.bytes_acked += acked.payload as u64;
        let mut horizon_moved = false;
        let mut reach = None;
        if let Some(sack) = packet.selective_ack {
            self.peer_sends_sack = true;
            let bits = sack.bit_count();
            // What this mask describes: the packets up to `ack_nr + 1 + bits`, less the bits
            // libutp leaves clear at the end of its 4-byte masks. Beyond that the peer may hold
            // packets it does not mention, which therefore cannot be judged lost. At most 2016
            // bits (a 252-byte mask): the offset fits a sequence number.
            let described = if bits == LIBUTP_SACK_BITS {
                bits - UNDESCRIBED_SACK_BITS
            } else {
                bits
            };
            let beyond = header.ack_nr.add(2 + described as u16);
            reach = Some(beyond);
            acked.merge(
                self.send
                    .ack_selective(now, header.ack_nr, bits, |i| sack.is_set(i)),
            );
            // A selective ACK is only sent while the peer holds packets out of order; with no
            // bit set, what it holds lies beyond the mask. Losses ahead of it can then be found
            // by RACK instead of waiting for a timeout (the mask of libutp covers only 30
            // packets, fewer than one burst loss may take).
            if sack.iter_set().next().is_none() {
                horizon_moved = self.send.note_delivered_from(beyond);
            }
        }
        self.send.set_reach(reach);
        if acked.reordered {
            self.reordering_seen = true;
        }
        let resent_too_soon = matches!(
            (acked.retransmitted_acked_after, self.rtt.min_rtt()),
            (Some(after), Some(min_rtt)) if after < min_rtt
        );
        if resent_too_soon || acked.lost_was_delivered {
            // Acknowledged sooner than any round trip after its retransmission, or before it
            // was even resent: the original got through and the loss was not real. Widen the
            // reordering window (RFC 8985 section 6.2 step 4) and undo the window cut.
            self.reordering_seen = true;
            self.reo_wnd_mult = (self.reo_wnd_mult + 1).min(MAX_REO_WND_MULT);
            self.stats.spurious_retransmits += 1;
            self.cc.undo_last_cut();
        }

        if acked.packets > 0 {
            self.consecutive_timeouts = 0;
            self.dup_acks = 0;
            self.cancel_recut();
            if self.send.is_empty() {
                self.timers.stop(Timer::Retransmit);
            } else {
                self.timers.set(Timer::Retransmit, now + self.rtt.rto());
            }
        } else if header.packet_type == PacketType::State
            && packet.payload.is_empty()
            && !self.send.is_empty()
            && header.ack_nr == self.send.base().prev()
            && distinct
            && !window_grew
            && !self.peer_sends_sack
        {
            // Only for peers that never send selective ACKs (RACK covers the others, and
            // duplicate ACKs caused by duplicated data would fake losses). A copy made by the
            // network carries the same timestamp: only distinct ACKs count. An ACK that opens
            // the window is the peer's application reading, not a packet arriving beyond a
            // gap: not a duplicate ACK (RFC 5681 section 2: a duplicate ACK leaves the
            // advertised window unchanged).
            self.dup_acks += 1;
            if self.dup_acks == DUP_ACK_THRESHOLD
                && packet.selective_ack.is_none()
                && self.send.mark_front_lost()
                && !self.fail_probe_if_lost(now)
            {
                self.on_congestion_loss(now);
            }
        }
        self.last_ack_timestamp = header.timestamp;
        if let Some(rtt) = acked.rtt {
            self.rtt.on_sample(rtt);
        }
        if header.timestamp_diff != 0 && acked.bytes > 0 {
            self.cc.on_delay_sample(now, header.timestamp_diff);
            if self.cc.take_base_restart() {
                // The path (or a clock) changed: the smallest RTT seen is no longer a bound.
                self.rtt.forget_min();
            }
            self.stats.delay_samples += 1;
        }
        if acked.bytes > 0 {
            self.cc.on_ack(now, acked.bytes, flight_before, acked.rtt);
        }
        if packet.selective_ack.is_none() {
            // The peer holds nothing out of order: all it received is acknowledged.
            self.undescribed = 0;
        } else if acked.bytes > 0 {
            // Some of what was undescribed may be what got acknowledged now.
            self.undescribed = self.undescribed.saturating_sub(acked.bytes);
        } else if !horizon_moved
            && header.packet_type == PacketType::State
            && packet.payload.is_empty()
            && distinct
            && !window_grew
        {
            // An ACK with nothing new in it while the peer holds packets out of order: it
            // received a packet its selective ACK does not reach, which has left the network.
            // One more packet may go in its place (RFC 5681 section 3.2 step 4 inflates the
            // window by one segment per duplicate ACK for the same reason).
            // Never more than is in flight: the peer cannot hold more than we sent, so repeated
            // ACKs (an ACK-division or duplicate-ACK attack) cannot widen the window further.
            self.undescribed = (self.undescribed + self.packet_size)
                .min(self.config.send_buffer_cap())
                .min(self.send.in_flight());
        }
        if self
            .recovery_end
            .is_some_and(|end| !self.send.base().precedes(end))
        {
            self.recovery_end = None;
        }
        self.check_probe_acked(now);
        if acked.bytes > 0 || horizon_moved {
            self.detect_losses(now);
        }
        if acked.fin_acked {
            self.fin_acked = true;
        }
        self.check_flushed(events);
        if acked.fin_acked {
            self.check_close(now, events);
        }
        if self.write_blocked && self.state == State::Connected && self.writable_again() {
            self.write_blocked = false;
            events.push_back((self.handle, Event::Writable));
        }
    }

    /// The peer's window opened again after being closed: packets sent into the closed window
    /// more than a round trip ago were dropped by the peer, so resend them now rather than
    /// after a backed-off timeout.
    fn window_reopened(&mut self, now: Instant) {
        if self.send.is_empty() {
            return;
        }
        self.rtt.reset_backoff();
        let srtt = self.rtt.srtt().unwrap_or(self.config.initial_rto);
        if self
            .send
            .front()
            .is_some_and(|p| now.saturating_duration_since(p.last_sent) >= srtt)
        {
            self.send.mark_all_lost();
        }
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
    }

    /// [`Config::adaptive_ack`]: updates the peer's packet spacing with this packet and sets
    /// the delayed-ACK deadline from it (moving an armed deadline earlier, never later). A
    /// `short` packet (less than a full one: the tail of a write, a small message) that would
    /// wait [`QUICK_ACK_DELAY`] or more is acknowledged at once instead, so a peer whose Nagle
    /// holds data until this ACK never waits long (TCP's quick ACK); inside a stream of closely
    /// spaced packets the burst-end timer answers it soon anyway.
    fn arm_adaptive_ack(&mut self, now: Instant, short: bool) {
        if self.unacked_packets == 1 {
            self.first_unacked_at = now;
        }
        if self.last_data_at.as_micros() > 0 {
            let gap = now.saturating_duration_since(self.last_data_at).as_micros() as u64;
            self.data_spacing = if gap < self.data_spacing {
                gap
            } else {
                self.data_spacing + (gap - self.data_spacing) / 16
            };
        }
        let delay = self
            .data_spacing
            .saturating_mul(u64::from(ACK_SPACING_FACTOR))
            .clamp(
                MIN_ADAPTIVE_ACK_DELAY.as_micros() as u64,
                self.config.delayed_ack.as_micros() as u64,
            );
        if short && delay >= QUICK_ACK_DELAY.as_micros() as u64 {
            self.ack_due = true;
            return;
        }
        let deadline = Instant::from_micros(self.first_unacked_at.as_micros() + delay);
        let deadline = if deadline < now { now } else { deadline };
        if self.timers.get(Timer::Ack).is_none_or(|t| deadline < t) {
            self.timers.set(Timer::Ack, deadline);
        }
    }

    /// Without [`Config::adaptive_ack`](crate::proto::Config::adaptive_ack): whether an
    /// in-order packet of `len` bytes is acknowledged at once instead of after the delayed-ACK
    /// timer. The peer's Nagle holds its next small write until this ACK, so waiting would add
    /// the timer to every message of an interactive exchange: a packet shorter than the
    /// largest one seen (the tail of a write) or arriving after a pause of at least the
    /// delayed-ACK time (sparse traffic) is acknowledged now. A stream of full packets still
    /// gets one ACK per `ack_every` packets.
    fn wants_quick_ack(&self, now: Instant, len: usize) -> bool {
        let paused = self.last_data_at.as_micros() == 0
            || now.saturating_duration_since(self.last_data_at) >= self.config.delayed_ack;
        len < self.largest_payload || paused
    }

    fn process_data(&mut self, now: Instant, packet: &Packet<'_>, events: &mut EventQueue) {
        let header = &packet.header;
        let fin = header.packet_type == PacketType::Fin;
        let payload = if fin { &[][..] } else { packet.payload };
        let had_gaps = self.recv.has_gaps();
        let before = self.recv.readable_len();
        // In place: the next expected payload with nothing waiting to be read goes to the
        // application straight from the datagram, without passing through the buffer.
        let in_place = if self.in_place_allowed && !payload.is_empty() {
            self.recv.insert_in_place(header.seq_nr, payload.len())
        } else {
            None
        };
        if in_place.is_some() {
            self.delivered_in_place = payload.len();
        }
        let inserted = in_place.unwrap_or_else(|| self.recv.insert(header.seq_nr, payload, fin));
        if matches!(inserted, Inserted::InOrder { .. } | Inserted::OutOfOrder) {
            self.autotune_recv(now, header.timestamp_diff);
        }
        match inserted {
            Inserted::InOrder { .. } => {
                let buffered = self.recv.readable_len() - before;
                self.stats.bytes_received += (buffered + self.delivered_in_place) as u64;
                if buffered > 0 && !self.readable_notified {
                    self.readable_notified = true;
                    events.push_back((self.handle, Event::Readable));
                }
                self.unacked_packets += 1;
                if had_gaps || self.unacked_packets >= self.config.ack_every {
                    self.ack_due = true;
                } else if self.config.adaptive_ack {
                    let short = payload.len() < payload_size(self.packet_size);
                    self.arm_adaptive_ack(now, short);
                } else if self.wants_quick_ack(now, payload.len()) {
                    self.ack_due = true;
                } else if self.timers.get(Timer::Ack).is_none() {
                    self.timers.set(Timer::Ack, now + self.config.delayed_ack);
                }
                // Empty data packets (path-MTU probes, libutp's zero-length writes) say nothing
                // about the peer's writes or their spacing.
                if !payload.is_empty() {
                    self.largest_payload = self.largest_payload.max(payload.len());
                    self.last_data_at = now;
                }
            }
            Inserted::OutOfOrder => self.ack_due = true,
            Inserted::Duplicate => {
                self.stats.duplicates_received += 1;
                self.ack_due = true;
            }
            Inserted::Dropped => self.ack_due = true,
        }
        if self.recv.fin_reached() && !self.eof_reported {
            self.eof_reported = true;
            self.ack_due = true;
            events.push_back((self.handle, Event::Eof));
        }
    }
}
