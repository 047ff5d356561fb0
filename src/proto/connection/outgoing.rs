//! The send path of a connection: which packet goes out next, and building it (BEP 29 header
//! fields; Nagle per RFC 896; windows per RFC 6817 and the peer's advertised window).

use super::{payload_size, Connection, State, Timer};
use crate::proto::config::MAX_PACKETS_IN_FLIGHT;
use crate::proto::congestion::pacer::{Pacer, AVOIDANCE_GAIN, SLOW_START_GAIN};
use crate::proto::packet::{encode_prefix, Extensions, Header, PacketType, HEADER_LEN};
use crate::proto::reliability::send_queue::Kind;
use crate::proto::seq::SeqNr;
use crate::proto::time::Instant;

/// Longest selective-ACK mask we send: the largest multiple of 4 an extension length byte can
/// hold (BEP 29 allows any multiple of 4; libutp sends 4 bytes).
const MAX_SACK_BYTES: usize = 252;

/// A datagram the connection wrote into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    pub len: usize,
    pub dont_fragment: bool,
}

impl Connection {
    /// Writes the next datagram to send into `buf`, if any. `buf` must hold a full packet.
    pub(crate) fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Written> {
        if buf.len() < self.packet_size {
            return None;
        }
        if self.reset_due {
            self.reset_due = false;
            let seq = self.send.next_seq();
            return self.emit_control(now, buf, PacketType::Reset, seq);
        }
        if self.finished {
            return None;
        }
        if self.syn_due {
            self.syn_due = false;
            let payload = self.send.take_buffer();
            let seq = self.send.push(now, Kind::Syn, payload).seq;
            let written = self.emit_sent(now, buf, seq);
            self.arm_retransmit(now);
            return written;
        }
        if self.syn_ack_due {
            self.syn_ack_due = false;
            if let Some((first_seq, _)) = self.syn_ack {
                return self.emit_control(now, buf, PacketType::State, first_seq);
            }
        }
        if self.state == State::Connected {
            if let Some(written) = self.send_black_hole_ping(now, buf) {
                return Some(written);
            }
        }
        if self.state == State::Connected && !self.recut_pending() {
            if let Some(written) = self.retransmit_lost(now, buf) {
                return Some(written);
            }
            if let Some(written) = self.send_probe(now, buf) {
                return Some(written);
            }
            if let Some(written) = self.send_new_data(now, buf) {
                return Some(written);
            }
            if self.write_shutdown && !self.fin_sent && self.unsent.is_empty() {
                self.fin_sent = true;
                let payload = self.send.take_buffer();
                let seq = self.send.push(now, Kind::Fin, payload).seq;
                let written = self.emit_sent(now, buf, seq);
                self.arm_retransmit(now);
                return written;
            }
        }
        if self.state == State::SynSent {
            if let Some(written) = self.retransmit_lost(now, buf) {
                return Some(written);
            }
        }
        if self.ack_due || self.keepalive_due {
            let seq = self.send.next_seq();
            return self.emit_control(now, buf, PacketType::State, seq);
        }
        None
    }

    /// The congestion window, widened by the packets that left the network without being
    /// acknowledged yet.
    fn congestion_window(&self) -> usize {
        self.cc.window() + self.undescribed
    }

    /// The usable send window: the congestion window and the peer's advertised window.
    pub(super) fn send_window(&self) -> usize {
        self.congestion_window().min(self.peer_window)
    }

    /// Whether the pacer lets a packet of `size` bytes go now; if not, the pacing timer is
    /// armed for when it will.
    pub(super) fn pacing_allows(&mut self, now: Instant, size: usize) -> bool {
        let gain = if self.cc.in_slow_start() {
            SLOW_START_GAIN
        } else {
            AVOIDANCE_GAIN
        };
        let rate = Pacer::rate(self.congestion_window(), self.rtt.srtt(), gain);
        match self.pacer.next_send(now, size, rate) {
            None => true,
            Some(at) => {
                self.timers.set(Timer::Pace, at);
                false
            }
        }
    }

    fn retransmit_lost(&mut self, now: Instant, buf: &mut [u8]) -> Option<Written> {
        let seq = self.send.first_lost()?;
        if self.probe_seq == Some(seq) {
            // Resent, the probe can no longer tell whether its size got through.
            self.fail_probe(now);
        }
        let size = self.send.get(seq)?.size();
        let in_flight = self.send.in_flight();
        if in_flight > 0 && in_flight + size > self.congestion_window() {
            return None;
        }
        if !self.pacing_allows(now, size) {
            return None;
        }
        self.pacer.on_sent(now, size);
        self.send.retransmit(now, seq)?;
        self.stats.retransmits += 1;
        // Judged lost by RACK or duplicate ACKs, not resent after a timeout.
        if self.consecutive_timeouts == 0 {
            self.stats.fast_retransmits += 1;
        }
        let written = self.emit_sent(now, buf, seq);
        self.arm_retransmit(now);
        written
    }

    fn send_new_data(&mut self, now: Instant, buf: &mut [u8]) -> Option<Written> {
        if self.fin_sent {
            return None;
        }
        if self.unsent.is_empty() {
            if !self.empty_packet_due {
                return None;
            }
            self.empty_packet_due = false;
            let payload = self.send.take_buffer();
            let seq = self.send.push(now, Kind::Data, payload).seq;
            let written = self.emit_sent(now, buf, seq);
            self.arm_retransmit(now);
            return written;
        }
        let mss = payload_size(self.packet_size);
        let len = self.unsent.len().min(mss);
        // Nagle: a short packet waits while data is in flight, unless no more is coming.
        // Path-MTU probes carry no data and hold nothing back.
        let data_in_flight = self.send.len() > self.send.probe_count();
        if len < mss && self.config.nagle && data_in_flight && !self.write_shutdown {
            return None;
        }
        if self.send.len() >= MAX_PACKETS_IN_FLIGHT {
            return None;
        }
        let in_flight = self.send.in_flight();
        self.cc.validate(now, in_flight);
        let window = self.send_window();
        let fits = in_flight + len + HEADER_LEN <= window;
        // With nothing in flight one packet may always go (a window below one packet would
        // otherwise stall), except into a zero window, which only a probe may enter.
        let lone = in_flight == 0 && (self.peer_window > 0 || self.probe_due);
        if !fits && !lone {
            if self.peer_window < self.packet_size
                && self.send.is_empty()
                && self.timers.get(Timer::Persist).is_none()
            {
                self.timers.set(Timer::Persist, now + self.rtt.rto());
            }
            return None;
        }
        if !self.pacing_allows(now, len + HEADER_LEN) {
            return None;
        }
        self.pacer.on_sent(now, len + HEADER_LEN);
        self.probe_due = false;
        let send = &mut self.send;
        let payload = self.unsent.take(len, || send.take_buffer());
        let seq = self.send.push(now, Kind::Data, payload).seq;
        let written = self.emit_sent(now, buf, seq);
        self.arm_retransmit(now);
        written
    }

    pub(super) fn arm_retransmit(&mut self, now: Instant) {
        if self.timers.get(Timer::Retransmit).is_none() {
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        }
    }

    pub(super) fn header(&self, now: Instant, packet_type: PacketType, seq_nr: SeqNr) -> Header {
        let connection_id = if packet_type == PacketType::Syn {
            self.recv_id
        } else {
            self.send_id
        };
        let ack_nr = if packet_type == PacketType::Syn {
            SeqNr(0)
        } else {
            self.recv.ack_nr()
        };
        Header {
            packet_type,
            connection_id,
            timestamp: now.wire(),
            timestamp_diff: self.reply_micro,
            window: if packet_type == PacketType::Reset {
                0
            } else {
                self.advertised_window() as u32
            },
            seq_nr,
            ack_nr,
        }
    }

    /// Bookkeeping common to every datagram we send.
    pub(super) fn note_sent(&mut self, now: Instant, payload: usize, carries_sack: bool) {
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += payload as u64;
        self.last_sent_at = now;
        // Every packet carries our cumulative ACK, but only an ST_STATE carries the selective
        // ACK: with packets held out of order, an ST_STATE is still owed.
        if carries_sack || !self.recv.has_gaps() {
            self.ack_due = false;
        }
        self.keepalive_due = false;
        self.unacked_packets = 0;
        self.timers.stop(Timer::Ack);
        self.last_advertised = self.advertised_window();
        if self.state == State::Connected {
            self.arm_keepalive(now);
        }
    }

    /// Writes packet `seq` of the send queue (first transmission or retransmission).
    fn emit_sent(&mut self, now: Instant, buf: &mut [u8], seq: SeqNr) -> Option<Written> {
        let (kind, payload_len) = {
            let p = self.send.get(seq)?;
            (p.kind, p.payload.len())
        };
        let packet_type = match kind {
            Kind::Syn => PacketType::Syn,
            Kind::Data => PacketType::Data,
            Kind::Fin => PacketType::Fin,
        };
        let header = self.header(now, packet_type, seq);
        let offset = encode_prefix(&header, &Extensions::default(), buf).ok()?;
        let p = self.send.get(seq)?;
        let end = offset + p.payload.len();
        buf.get_mut(offset..end)?.copy_from_slice(&p.payload);
        self.note_sent(now, payload_len, false);
        Some(Written {
            len: end,
            dont_fragment: false,
        })
    }

    /// Writes an ST_STATE (ACK, with a selective ACK when packets are held out of order) or an
    /// ST_RESET, neither of which consumes a sequence number.
    fn emit_control(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        packet_type: PacketType,
        seq: SeqNr,
    ) -> Option<Written> {
        let header = self.header(now, packet_type, seq);
        let mut mask = [0u8; MAX_SACK_BYTES];
        let sack_len = if packet_type == PacketType::State && self.recv.has_gaps() {
            let room = buf.len().saturating_sub(HEADER_LEN + 2).min(MAX_SACK_BYTES);
            self.recv.write_sack(&mut mask[..room])
        } else {
            0
        };
        let ext = Extensions {
            selective_ack: (sack_len > 0).then(|| &mask[..sack_len]),
            close_reason: None,
        };
        let len = encode_prefix(&header, &ext, buf).ok()?;
        self.note_sent(now, 0, true);
        Some(Written {
            len,
            dont_fragment: false,
        })
    }
}
