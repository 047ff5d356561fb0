//! The receive path of a connection: what an incoming packet does to it (BEP 29 "Connection
//! setup", "Acks", "Selective ACK"; RFC 6817 for the delay samples).

use super::{Connection, EventQueue, State, Timer};
use crate::proto::error::ConnectionError;
use crate::proto::event::Event;
use crate::proto::packet::{Packet, PacketType};
use crate::proto::reliability::recv_buffer::Inserted;
use crate::proto::time::Instant;

/// Duplicate ACKs that signal a loss when the peer sends no selective ACKs (RFC 5681
/// section 3.2).
const DUP_ACK_THRESHOLD: u32 = 3;

impl Connection {
    /// Handles a packet routed to this connection.
    pub(crate) fn handle_packet(&mut self, now: Instant, packet: &Packet<'_>, events: &mut EventQueue) {
        let header = &packet.header;
        self.stats.packets_received += 1;

        if self.state == State::Closed {
            // Lingering: keep acknowledging the peer's retransmissions (of its FIN above all).
            match header.packet_type {
                PacketType::Reset => self.finished = true,
                PacketType::Data | PacketType::Fin => {
                    self.recv.insert(header.seq_nr, &[], header.packet_type == PacketType::Fin);
                    self.ack_due = true;
                }
                _ => {}
            }
            return;
        }

        match header.packet_type {
            PacketType::Reset => {
                let error = if self.state == State::SynSent {
                    ConnectionError::Refused
                } else {
                    ConnectionError::Reset
                };
                self.fail(now, error, events);
                return;
            }
            PacketType::Syn => {
                // A retransmitted SYN: our SYN-ACK was lost. Answer it again (libutp ignores
                // it, and the initiator's connect fails after 21 s).
                if let Some((_, syn_seq)) = self.syn_ack {
                    if header.seq_nr == syn_seq {
                        self.syn_ack_due = true;
                    }
                }
                return;
            }
            _ => {}
        }
        if self.state == State::Failed {
            return;
        }

        // The timestamp difference we echo (BEP 29 timestamp_difference_microseconds), and the
        // peer-direction delay sample used to detect clock drift.
        self.reply_micro = if header.timestamp.0 == 0 { 0 } else { now.wire().wrapping_since(header.timestamp) };
        if self.reply_micro != 0 {
            self.cc.on_peer_delay_sample(now, self.reply_micro);
        }

        if self.state == State::SynSent {
            // Only the SYN-ACK (an ST_STATE acknowledging our SYN) completes the handshake. Data
            // arriving first is dropped: we cannot know the peer's first sequence number from it
            // and it will be resent.
            let syn_seq = self.send.base();
            if header.packet_type != PacketType::State || header.ack_nr != syn_seq {
                return;
            }
            self.recv.set_ack_nr(header.seq_nr.prev());
            self.state = State::Connected;
            self.consecutive_timeouts = 0;
            events.push_back((self.handle, Event::Connected));
            self.arm_keepalive(now);
        }

        if !self.send.ack_is_plausible(header.ack_nr) {
            // Acknowledges something we never sent: forged or from another connection.
            return;
        }
        self.peer_window = header.window as usize;
        if self.peer_window >= self.packet_size {
            self.timers.stop(Timer::Persist);
            self.probe_due = false;
        }
        self.process_ack(now, packet, events);

        match header.packet_type {
            PacketType::Data | PacketType::Fin => self.process_data(now, packet, events),
            _ => {}
        }
    }

    fn process_ack(&mut self, now: Instant, packet: &Packet<'_>, events: &mut EventQueue) {
        let header = &packet.header;
        let flight_before = self.send.in_flight();
        let mut acked = self.send.ack_cumulative(now, header.ack_nr);
        if let Some(sack) = packet.selective_ack {
            let s = self.send.ack_selective(now, header.ack_nr, sack.bit_count(), |i| sack.is_set(i));
            acked.bytes += s.bytes;
            acked.rtt = match (acked.rtt, s.rtt) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }

        if acked.packets > 0 {
            self.consecutive_timeouts = 0;
            self.dup_acks = 0;
            if self.send.is_empty() {
                self.timers.stop(Timer::Retransmit);
            } else {
                self.timers.set(Timer::Retransmit, now + self.rtt.rto());
            }
        } else if header.packet_type == PacketType::State
            && packet.payload.is_empty()
            && !self.send.is_empty()
            && header.ack_nr == self.send.base().prev()
        {
            self.dup_acks += 1;
            if self.dup_acks == DUP_ACK_THRESHOLD && packet.selective_ack.is_none() && self.send.mark_front_lost() {
                self.stats.fast_retransmits += 1;
                self.cc.on_loss(now, self.rtt.srtt().unwrap_or(self.config.initial_rto));
            }
        }
        if let Some(rtt) = acked.rtt {
            self.rtt.on_sample(rtt);
        }
        if header.timestamp_diff != 0 && acked.bytes > 0 {
            self.cc.on_delay_sample(now, header.timestamp_diff);
            self.stats.delay_samples += 1;
        }
        if acked.bytes > 0 {
            self.cc.on_ack(now, acked.bytes, flight_before, acked.rtt);
        }
        if packet.selective_ack.is_some() {
            let lost = self.send.detect_losses();
            if lost > 0 {
                self.stats.fast_retransmits += lost as u64;
                self.cc.on_loss(now, self.rtt.srtt().unwrap_or(self.config.initial_rto));
            }
        }
        if acked.fin_acked {
            self.fin_acked = true;
            self.check_close(now, events);
        }
        if self.write_blocked && self.state == State::Connected && self.send_space() > 0 {
            self.write_blocked = false;
            events.push_back((self.handle, Event::Writable));
        }
    }

    fn process_data(&mut self, now: Instant, packet: &Packet<'_>, events: &mut EventQueue) {
        let header = &packet.header;
        let fin = header.packet_type == PacketType::Fin;
        let payload = if fin { &[][..] } else { packet.payload };
        let had_gaps = self.recv.has_gaps();
        let before = self.recv.readable_len();
        match self.recv.insert(header.seq_nr, payload, fin) {
            Inserted::InOrder { .. } => {
                let delivered = self.recv.readable_len() - before;
                self.stats.bytes_received += delivered as u64;
                if delivered > 0 && !self.readable_notified {
                    self.readable_notified = true;
                    events.push_back((self.handle, Event::Readable));
                }
                self.unacked_packets += 1;
                if had_gaps || self.unacked_packets >= self.config.ack_every {
                    self.ack_due = true;
                } else if self.timers.get(Timer::Ack).is_none() {
                    self.timers.set(Timer::Ack, now + self.config.delayed_ack);
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
