//! Packets sent and not yet acknowledged, in sequence order, with what the ACKs and selective
//! ACKs of BEP 29 tell about each, and the loss detection that decides what to resend.
//!
//! Loss detection follows RFC 8985 (RACK): every transmission gets a serial number, and a packet
//! still unacknowledged is lost once a packet transmitted after it has been delivered and more
//! than one round trip plus a reordering window has passed since it was sent. Because a
//! retransmission gets a fresh serial number, a lost retransmission is detected the same way,
//! without waiting for a timeout; because the test is on time, not on counts, reordering by
//! jitter does not look like loss once the reordering window has grown to cover it.
//!
//! Invariants: `packets[i].seq == base + i`; `in_flight` is the wire size of every packet that is
//! neither acknowledged, selectively acknowledged, nor marked lost.

use crate::proto::seq::SeqNr;
use crate::proto::time::Instant;
use core::time::Duration;
use std::collections::VecDeque;

use super::pool::BufferPool;

/// Bytes of header counted with every packet in flight (BEP 29 header).
const HEADER_BYTES: usize = 20;

/// What a sent packet was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The connection request.
    Syn,
    /// Payload (possibly empty).
    Data,
    /// End of our stream.
    Fin,
}

/// One sent, unacknowledged packet.
#[derive(Debug)]
pub struct SentPacket {
    /// Its sequence number.
    pub seq: SeqNr,
    /// What it is.
    pub kind: Kind,
    /// Its payload, kept for retransmission.
    pub payload: Vec<u8>,
    /// How often it was sent.
    pub transmissions: u32,
    /// When it was last sent.
    pub last_sent: Instant,
    /// Serial number of its last transmission.
    pub tx_order: u64,
    /// Serial number of its first transmission.
    pub first_tx_order: u64,
    /// The peer reported it in a selective ACK.
    pub sacked: bool,
    /// Judged lost and waiting to be resent.
    pub lost: bool,
    /// A path-MTU probe: empty, its first transmission padded (see
    /// [`crate::proto::packet::encode_padded`]).
    pub probe: bool,
}

impl SentPacket {
    /// Bytes it occupies in the congestion window.
    pub fn size(&self) -> usize {
        self.payload.len() + HEADER_BYTES
    }
}

/// What an acknowledgement did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AckOutcome {
    /// Window bytes newly acknowledged (cumulatively or selectively).
    pub bytes: usize,
    /// Packets newly acknowledged cumulatively.
    pub packets: usize,
    /// Stream payload bytes of the packets newly acknowledged cumulatively.
    pub payload: usize,
    /// Smallest round-trip sample among newly acknowledged packets that were sent once (Karn).
    pub rtt: Option<Duration>,
    /// The SYN was acknowledged.
    pub syn_acked: bool,
    /// Our FIN was acknowledged.
    pub fin_acked: bool,
    /// A first transmission was delivered after a packet sent later than it: the path
    /// reorders (RFC 8985 section 6.2 step 3).
    pub reordered: bool,
    /// Shortest time between the last retransmission of a newly acknowledged packet and its
    /// acknowledgement; shorter than the minimum RTT means the original arrived and the
    /// retransmission was spurious.
    pub retransmitted_acked_after: Option<Duration>,
    /// A packet judged lost but not yet resent was delivered after all: the loss was not real.
    pub lost_was_delivered: bool,
}

impl AckOutcome {
    /// Folds another outcome of the same ACK into this one.
    pub fn merge(&mut self, other: AckOutcome) {
        self.bytes += other.bytes;
        self.packets += other.packets;
        self.payload += other.payload;
        self.rtt = min_opt(self.rtt, other.rtt);
        self.syn_acked |= other.syn_acked;
        self.fin_acked |= other.fin_acked;
        self.reordered |= other.reordered;
        self.lost_was_delivered |= other.lost_was_delivered;
        self.retransmitted_acked_after = min_opt(
            self.retransmitted_acked_after,
            other.retransmitted_acked_after,
        );
    }
}

fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What loss detection needs to know about a delivered transmission.
#[derive(Debug, Clone, Copy)]
struct Delivered {
    tx_order: u64,
    last_sent: Instant,
    transmissions: u32,
}

/// The send queue of one connection.
#[derive(Debug)]
pub struct SendQueue {
    packets: VecDeque<SentPacket>,
    base: SeqNr,
    next_seq: SeqNr,
    in_flight: usize,
    payload_bytes: usize,
    lost: usize,
    /// No packet before this index is marked lost (keeps `first_lost` from rescanning).
    lost_hint: usize,
    tx_counter: u64,
    delivered_max_tx: u64,
    /// Packets from this sequence number on lie beyond what the peer's selective ACKs describe:
    /// whether they arrived is unknown, so loss detection leaves them alone.
    reach: Option<SeqNr>,
    /// Path-MTU probes among the packets.
    probes: usize,
    pool: BufferPool,
}

impl SendQueue {
    /// An empty queue whose first packet will carry `first_seq`.
    pub fn new(first_seq: SeqNr, payload_capacity: usize) -> Self {
        SendQueue {
            packets: VecDeque::new(),
            base: first_seq,
            next_seq: first_seq,
            in_flight: 0,
            payload_bytes: 0,
            lost: 0,
            lost_hint: 0,
            tx_counter: 0,
            delivered_max_tx: 0,
            reach: None,
            probes: 0,
            pool: BufferPool::new(payload_capacity),
        }
    }

    /// Sequence number the next new packet gets.
    pub fn next_seq(&self) -> SeqNr {
        self.next_seq
    }

    /// Oldest unacknowledged sequence number (equals `next_seq` when nothing is outstanding).
    pub fn base(&self) -> SeqNr {
        self.base
    }

    /// Path-MTU probes outstanding.
    pub fn probe_count(&self) -> usize {
        self.probes
    }

    /// Packets outstanding.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// True when nothing is outstanding.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Window bytes in flight: outstanding, not selectively acknowledged, not judged lost.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Packets judged lost and not yet resent.
    pub fn lost_count(&self) -> usize {
        self.lost
    }

    /// Payload bytes held for possible retransmission.
    pub fn buffered_payload(&self) -> usize {
        self.payload_bytes
    }

    /// An empty payload buffer from the pool, to fill and pass to [`SendQueue::push`].
    pub fn take_buffer(&mut self) -> Vec<u8> {
        self.pool.take()
    }

    /// Changes the payload capacity of pooled buffers (the packet size changed).
    pub fn set_payload_capacity(&mut self, capacity: usize) {
        self.pool.set_buffer_capacity(capacity);
    }

    /// Records a new packet sent now, returning it (its sequence number is `next_seq`).
    pub fn push(&mut self, now: Instant, kind: Kind, payload: Vec<u8>) -> &SentPacket {
        self.push_packet(now, kind, payload, false)
    }

    /// Records a path-MTU probe (an empty data packet) sent now, returning its sequence number.
    pub fn push_probe(&mut self, now: Instant) -> SeqNr {
        let payload = self.pool.take();
        self.probes += 1;
        self.push_packet(now, Kind::Data, payload, true).seq
    }

    fn push_packet(
        &mut self,
        now: Instant,
        kind: Kind,
        payload: Vec<u8>,
        probe: bool,
    ) -> &SentPacket {
        self.tx_counter += 1;
        let packet = SentPacket {
            seq: self.next_seq,
            kind,
            payload,
            transmissions: 1,
            last_sent: now,
            tx_order: self.tx_counter,
            first_tx_order: self.tx_counter,
            sacked: false,
            lost: false,
            probe,
        };
        self.in_flight += packet.size();
        self.payload_bytes += packet.payload.len();
        self.next_seq = self.next_seq.next();
        self.packets.push_back(packet);
        let last = self.packets.len() - 1;
        &self.packets[last]
    }

    /// The oldest packet judged lost, if any.
    pub fn first_lost(&mut self) -> Option<SeqNr> {
        if self.lost == 0 {
            return None;
        }
        let start = self.lost_hint.min(self.packets.len());
        let offset = self.packets.range(start..).position(|p| p.lost)?;
        self.lost_hint = start + offset;
        Some(self.packets[self.lost_hint].seq)
    }

    /// The packet with sequence number `seq`, if outstanding.
    pub fn get(&self, seq: SeqNr) -> Option<&SentPacket> {
        let i = usize::from(seq.distance_from(self.base));
        self.packets.get(i)
    }

    /// The oldest outstanding packet.
    pub fn front(&self) -> Option<&SentPacket> {
        self.packets.front()
    }

    /// Records a retransmission of `seq` now, returning the packet.
    pub fn retransmit(&mut self, now: Instant, seq: SeqNr) -> Option<&SentPacket> {
        let i = usize::from(seq.distance_from(self.base));
        let p = self.packets.get_mut(i)?;
        self.tx_counter += 1;
        if p.lost {
            p.lost = false;
            self.lost -= 1;
            self.in_flight += p.size();
        } else if p.sacked {
            return None;
        }
        p.transmissions += 1;
        p.last_sent = now;
        p.tx_order = self.tx_counter;
        Some(p)
    }

    /// True when `ack_nr` acknowledges nothing we have not sent: it lies in
    /// `[base - 1, next_seq - 1]` or just below (old ACKs reordered in the network).
    pub fn ack_is_plausible(&self, ack_nr: SeqNr) -> bool {
        !ack_nr.follows(self.next_seq.prev())
    }

    /// Frees the pooled packet buffers (for an idle connection).
    pub fn release_pool(&mut self) {
        self.pool.clear();
    }

    /// Applies a cumulative ACK of every packet up to and including `ack_nr`.
    pub fn ack_cumulative(&mut self, now: Instant, ack_nr: SeqNr) -> AckOutcome {
        let mut out = AckOutcome::default();
        while let Some(front) = self.packets.front() {
            if !(front.seq == ack_nr || front.seq.precedes(ack_nr)) {
                break;
            }
            let Some(p) = self.packets.pop_front() else {
                break;
            };
            self.lost_hint = self.lost_hint.saturating_sub(1);
            self.base = self.base.next();
            self.payload_bytes -= p.payload.len();
            out.payload += p.payload.len();
            if p.lost {
                self.lost -= 1;
                out.lost_was_delivered = true;
            } else if !p.sacked {
                self.in_flight -= p.size();
            }
            if !p.sacked {
                out.bytes += p.size();
            }
            if !p.sacked {
                let delivered = Delivered {
                    tx_order: p.tx_order,
                    last_sent: p.last_sent,
                    transmissions: p.transmissions,
                };
                self.note_delivered(now, delivered, &mut out);
            }
            out.packets += 1;
            if p.probe {
                self.probes -= 1;
            }
            match p.kind {
                Kind::Syn => out.syn_acked = true,
                Kind::Fin => out.fin_acked = true,
                Kind::Data => {}
            }
            self.pool.give(p.payload);
        }
        out
    }

    /// Applies a selective ACK: `is_set(i)` says packet `ack_nr + 2 + i` arrived.
    pub fn ack_selective(
        &mut self,
        now: Instant,
        ack_nr: SeqNr,
        bits: usize,
        is_set: impl Fn(usize) -> bool,
    ) -> AckOutcome {
        let mut out = AckOutcome::default();
        let first = ack_nr.add(2);
        for i in 0..bits {
            if !is_set(i) {
                continue;
            }
            let seq = first.add(i as u16);
            if !seq.precedes(self.next_seq) || seq.precedes(self.base) {
                continue;
            }
            let idx = usize::from(seq.distance_from(self.base));
            let Some(p) = self.packets.get_mut(idx) else {
                continue;
            };
            if p.sacked {
                continue;
            }
            p.sacked = true;
            if p.lost {
                p.lost = false;
                self.lost -= 1;
                out.lost_was_delivered = true;
            } else {
                self.in_flight -= p.size();
            }
            out.bytes += p.size();
            let delivered = Delivered {
                tx_order: p.tx_order,
                last_sent: p.last_sent,
                transmissions: p.transmissions,
            };
            self.note_delivered(now, delivered, &mut out);
        }
        out
    }

    /// Sets how far the peer's latest selective ACK described its receive buffer: packets from
    /// `reach` on are not judged lost (`None`: the peer described everything it holds).
    pub fn set_reach(&mut self, reach: Option<SeqNr>) {
        self.reach = reach;
    }

    /// The peer holds some packet at or after `seq` without saying which (it lies beyond what
    /// its selective ACK describes). Every transmission of such a packet came after the first
    /// transmission of `seq` (first transmissions go out in sequence order, retransmissions
    /// later still), so for loss detection a packet sent that early has been delivered. Returns
    /// whether that moved the delivery horizon.
    pub fn note_delivered_from(&mut self, seq: SeqNr) -> bool {
        if !seq.precedes(self.next_seq) || seq.precedes(self.base) {
            return false;
        }
        let idx = usize::from(seq.distance_from(self.base));
        let Some(p) = self.packets.get(idx) else {
            return false;
        };
        if p.first_tx_order > self.delivered_max_tx {
            self.delivered_max_tx = p.first_tx_order;
            return true;
        }
        false
    }

    fn note_delivered(&mut self, now: Instant, p: Delivered, out: &mut AckOutcome) {
        let since_sent = now.saturating_duration_since(p.last_sent);
        if p.transmissions == 1 {
            // A packet sent before one already known delivered waited at the peer behind a
            // hole (or was reordered): its acknowledgement came when the hole was filled, so
            // its age says nothing of the round trip. Only packets delivered in the order they
            // were sent give RTT samples (with Karn's rule, RFC 6298 section 3, for the rest).
            if p.tx_order < self.delivered_max_tx {
                out.reordered = true;
            } else {
                out.rtt = min_opt(out.rtt, Some(since_sent));
            }
        } else {
            out.retransmitted_acked_after =
                min_opt(out.retransmitted_acked_after, Some(since_sent));
        }
        self.delivered_max_tx = self.delivered_max_tx.max(p.tx_order);
    }

    /// RFC 8985 section 6.2 step 5: marks as lost every outstanding packet sent before the
    /// latest delivered one and at least `rtt + reo_wnd` ago. Returns how many were newly
    /// marked, and the earliest time another packet will qualify (the RACK reorder timer).
    pub fn detect_losses(
        &mut self,
        now: Instant,
        rtt: Duration,
        reo_wnd: Duration,
    ) -> (usize, Option<Instant>) {
        let mut newly = 0;
        let mut next = None;
        let mut first_marked = None;
        for (i, p) in self.packets.iter_mut().enumerate() {
            if self.reach.is_some_and(|r| !p.seq.precedes(r)) {
                // Beyond what the peer describes, in sequence order: so is everything after.
                break;
            }
            if p.tx_order >= self.delivered_max_tx {
                if p.transmissions == 1 {
                    // First transmissions are in sequence order: nothing later qualifies, and
                    // retransmissions further on carry larger serials still.
                    break;
                }
                continue;
            }
            if p.sacked || p.lost {
                continue;
            }
            let deadline = p.last_sent + rtt + reo_wnd;
            if deadline <= now {
                first_marked.get_or_insert(i);
                p.lost = true;
                self.lost += 1;
                self.in_flight -= p.size();
                newly += 1;
            } else {
                next = Some(next.map_or(deadline, |n: Instant| n.min(deadline)));
            }
        }
        if let Some(i) = first_marked {
            self.lost_hint = self.lost_hint.min(i);
        }
        (newly, next)
    }

    /// Marks packet `seq` lost (a path-MTU probe given up on). Returns whether it changed.
    pub fn mark_lost(&mut self, seq: SeqNr) -> bool {
        if !seq.precedes(self.next_seq) || seq.precedes(self.base) {
            return false;
        }
        let i = usize::from(seq.distance_from(self.base));
        match self.packets.get_mut(i) {
            Some(p) if !p.lost && !p.sacked => {
                p.lost = true;
                self.lost += 1;
                self.in_flight -= p.size();
                self.lost_hint = self.lost_hint.min(i);
                true
            }
            _ => false,
        }
    }

    /// Whether [`SendQueue::repacketize`] would re-cut the outstanding packets for
    /// `max_size`: something is outstanding, and every packet is data larger than that, neither
    /// selectively acknowledged nor a probe.
    pub fn can_repacketize(&self, max_size: usize) -> bool {
        !self.packets.is_empty()
            && self
                .packets
                .iter()
                .all(|p| p.kind == Kind::Data && !p.sacked && !p.probe && p.size() > max_size)
    }

    /// When the most recent transmission of any outstanding packet left.
    pub fn latest_transmission(&self) -> Option<Instant> {
        self.packets.iter().map(|p| p.last_sent).max()
    }

    /// Takes back every outstanding packet so that its data can be sent again in smaller
    /// packets under the same sequence numbers (after a path-MTU black hole): returns their
    /// payload bytes in order, and the queue continues from the oldest unacknowledged sequence
    /// number as if they had never been sent.
    ///
    /// Sequence numbers can only be reused for other bytes when the peer cannot hold any of
    /// these packets and never will, so this refuses (returns `None`, changing nothing) unless
    /// every outstanding packet is a data packet larger than `max_size` in every transmission
    /// (the path drops those), none was selectively acknowledged, and none is a FIN or a probe
    /// (either may have arrived).
    pub fn repacketize(&mut self, max_size: usize) -> Option<Vec<u8>> {
        if !self.can_repacketize(max_size) {
            return None;
        }
        let mut bytes = Vec::with_capacity(self.payload_bytes);
        for p in self.packets.drain(..) {
            bytes.extend_from_slice(&p.payload);
            self.pool.give(p.payload);
        }
        self.next_seq = self.base;
        self.in_flight = 0;
        self.payload_bytes = 0;
        self.lost = 0;
        self.lost_hint = 0;
        self.probes = 0;
        self.reach = None;
        Some(bytes)
    }

    /// Marks the oldest outstanding packet lost (three duplicate ACKs without selective ACKs).
    pub fn mark_front_lost(&mut self) -> bool {
        self.lost_hint = 0;
        match self.packets.front_mut() {
            Some(p) if !p.lost && !p.sacked => {
                p.lost = true;
                self.lost += 1;
                self.in_flight -= p.size();
                true
            }
            _ => false,
        }
    }

    /// After a retransmission timeout: every outstanding packet not selectively acknowledged is
    /// lost.
    pub fn mark_all_lost(&mut self) {
        self.lost_hint = 0;
        for p in self.packets.iter_mut() {
            if !p.sacked && !p.lost {
                p.lost = true;
                self.lost += 1;
                self.in_flight -= p.size();
            }
        }
    }
}

#[cfg(test)]
#[path = "send_queue_proptests.rs"]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    fn queue_with(n: u16) -> SendQueue {
        let mut q = SendQueue::new(SeqNr(10), 100);
        for i in 0..n {
            q.push(t(u64::from(i)), Kind::Data, vec![0; 100]);
        }
        q
    }

    #[test]
    fn cumulative_ack_pops_and_samples_rtt() {
        let mut q = queue_with(5);
        assert_eq!(q.in_flight(), 5 * 120);
        let out = q.ack_cumulative(t(50), SeqNr(12));
        assert_eq!(out.packets, 3);
        assert_eq!(out.bytes, 360);
        assert_eq!(out.rtt, Some(Duration::from_millis(48)));
        assert_eq!(q.base(), SeqNr(13));
        assert_eq!(q.in_flight(), 240);
        assert!(q.ack_is_plausible(SeqNr(14)));
        assert!(!q.ack_is_plausible(SeqNr(15)));
    }

    #[test]
    fn packets_held_behind_a_repaired_hole_give_no_rtt_sample() {
        // Packets 10..=14 sent at 0..4 ms; 10 is lost and resent at 100 ms; the cumulative
        // ACK at 110 ms covers all five. Only the retransmission (excluded by Karn's rule)
        // arrived in this round trip: 11..=14 waited behind the hole for 100 ms.
        let mut q = queue_with(5);
        q.mark_front_lost();
        assert_eq!(q.first_lost(), Some(SeqNr(10)));
        q.retransmit(t(100), SeqNr(10));
        let out = q.ack_cumulative(t(110), SeqNr(14));
        assert_eq!(out.packets, 5);
        assert_eq!(
            out.rtt, None,
            "a 106-110 ms sample would be the hole's repair time"
        );
        // Packets sent after the retransmission and acknowledged in order sample again.
        q.push(t(120), Kind::Data, vec![0; 100]);
        let out = q.ack_cumulative(t(150), SeqNr(15));
        assert_eq!(out.rtt, Some(Duration::from_millis(30)));
    }

    #[test]
    fn delivery_beyond_the_mask_lets_rack_mark_what_was_sent_before() {
        let mut q = queue_with(40);
        // Nothing acknowledged, but the peer holds something from seq 42 on (packet 32, sent at
        // 32 ms): with a 5 ms RTT everything sent before it and 5 ms ago is lost at 40 ms.
        assert!(q.note_delivered_from(SeqNr(42)));
        assert!(
            !q.note_delivered_from(SeqNr(30)),
            "an earlier horizon changes nothing"
        );
        assert!(!q.note_delivered_from(SeqNr(60)), "never sent");
        let (lost, next) = q.detect_losses(t(40), Duration::from_millis(5), Duration::ZERO);
        assert_eq!(lost, 32);
        assert_eq!(next, None);
        assert_eq!(q.first_lost(), Some(SeqNr(10)));
    }

    #[test]
    fn sack_three_above_marks_a_hole_lost() {
        let mut q = queue_with(6);
        // ack_nr = 10 (first packet), SACK bits 0.. = seq 12..: packets 12, 13, 14 arrived.
        q.ack_cumulative(t(30), SeqNr(10));
        let out = q.ack_selective(t(30), SeqNr(10), 3, |_| true);
        assert_eq!(out.bytes, 360);
        assert!(!out.reordered);
        // Seq 11 (sent at 1 ms) is overtaken; with an RTT of 20 ms it is lost from 21 ms on.
        let rtt = Duration::from_millis(20);
        assert_eq!(
            q.detect_losses(t(30), rtt, Duration::from_millis(29)),
            (0, Some(t(50)))
        );
        assert_eq!(q.detect_losses(t(30), rtt, Duration::ZERO), (1, None));
        assert_eq!(q.first_lost(), Some(SeqNr(11)));
        assert_eq!(q.in_flight(), 120); // only seq 15 is still in flight
        let p = q
            .retransmit(t(31), SeqNr(11))
            .map(|p| (p.transmissions, p.tx_order));
        assert_eq!(p, Some((2, 7)));
        assert_eq!(q.lost_count(), 0);
        // The retransmission is lost too: three later transmissions delivered.
        for i in 0..3 {
            q.push(t(32 + i), Kind::Data, vec![0; 100]);
        }
        // Bits 0..7 cover seq 12..=18: everything after 11 has arrived.
        q.ack_selective(t(40), SeqNr(10), 7, |_| true);
        assert_eq!(
            q.detect_losses(t(60), rtt, Duration::ZERO).0,
            1,
            "lost retransmission detected"
        );
        assert_eq!(q.first_lost(), Some(SeqNr(11)));
    }

    #[test]
    fn late_first_transmission_reports_reordering_and_spurious_retransmission() {
        let mut q = queue_with(3);
        q.ack_selective(t(20), SeqNr(9), 2, |i| i == 1); // seq 12 (bit 1 from ack_nr 9 + 2 = 11)
        let out = q.ack_cumulative(t(25), SeqNr(11));
        assert!(out.reordered, "10 and 11 arrived after 12");
        let mut q = queue_with(1);
        q.mark_front_lost();
        q.retransmit(t(30), SeqNr(10));
        let out = q.ack_cumulative(t(31), SeqNr(10));
        assert_eq!(
            out.retransmitted_acked_after,
            Some(Duration::from_millis(1))
        );
    }

    #[test]
    fn timeout_marks_everything_and_acks_clear_it() {
        let mut q = queue_with(3);
        q.mark_all_lost();
        assert_eq!(q.in_flight(), 0);
        assert_eq!(q.lost_count(), 3);
        let out = q.ack_cumulative(t(10), SeqNr(12));
        assert_eq!(out.packets, 3);
        assert_eq!(q.lost_count(), 0);
        assert!(q.is_empty());
    }

    #[test]
    fn first_lost_follows_the_queue_as_it_is_acknowledged() {
        let mut q = queue_with(5);
        q.mark_all_lost();
        assert_eq!(q.first_lost(), Some(SeqNr(10)));
        q.retransmit(t(10), SeqNr(10));
        assert_eq!(q.first_lost(), Some(SeqNr(11)));
        q.ack_cumulative(t(20), SeqNr(11));
        assert_eq!(
            q.first_lost(),
            Some(SeqNr(12)),
            "11 acknowledged, 12 is next"
        );
        q.retransmit(t(21), SeqNr(12));
        q.retransmit(t(21), SeqNr(13));
        assert_eq!(q.first_lost(), Some(SeqNr(14)));
        q.mark_front_lost();
        assert_eq!(
            q.first_lost(),
            Some(SeqNr(12)),
            "a new loss before the hint is found"
        );
    }

    #[test]
    fn karn_rule_skips_retransmitted_samples() {
        let mut q = queue_with(1);
        q.mark_front_lost();
        q.retransmit(t(100), SeqNr(10));
        let out = q.ack_cumulative(t(150), SeqNr(10));
        assert_eq!(out.rtt, None);
    }

    #[test]
    fn repacketize_takes_back_only_what_the_peer_cannot_hold() {
        let mut q = SendQueue::new(SeqNr(10), 100);
        for i in 0..3u8 {
            q.push(t(u64::from(i)), Kind::Data, vec![i; 100]);
        }
        assert_eq!(
            q.repacketize(120),
            None,
            "120-byte packets may have arrived"
        );
        let bytes = q.repacketize(119).expect("all larger than what passes");
        assert_eq!(bytes, [[0u8; 100], [1; 100], [2; 100]].concat());
        assert!(q.is_empty());
        assert_eq!(
            (q.next_seq(), q.in_flight(), q.buffered_payload()),
            (SeqNr(10), 0, 0)
        );
        // A selectively acknowledged packet, a probe or a FIN pins the sequence numbers.
        let mut sacked = queue_with(3);
        sacked.ack_selective(t(5), SeqNr(9), 1, |_| true); // seq 11
        assert_eq!(sacked.repacketize(50), None);
        let mut probed = queue_with(2);
        probed.push_probe(t(3));
        assert_eq!(probed.probe_count(), 1);
        assert_eq!(probed.repacketize(50), None);
        let mut fin = queue_with(2);
        fin.push(t(3), Kind::Fin, Vec::new());
        assert_eq!(fin.repacketize(50), None);
        assert_eq!(fin.len(), 3, "a refusal changes nothing");
    }

    #[test]
    fn mark_lost_takes_a_packet_out_of_flight_once() {
        let mut q = queue_with(3);
        assert!(q.mark_lost(SeqNr(11)));
        assert!(!q.mark_lost(SeqNr(11)));
        assert!(!q.mark_lost(SeqNr(40)), "never sent");
        assert_eq!(q.in_flight(), 240);
        assert_eq!(q.first_lost(), Some(SeqNr(11)));
        let probe = q.push_probe(t(4));
        q.ack_cumulative(t(5), probe);
        assert_eq!(q.probe_count(), 0, "acknowledged probes are forgotten");
    }

    #[test]
    fn wraps_around_the_sequence_space() {
        let mut q = SendQueue::new(SeqNr(0xFFFE), 10);
        for _ in 0..4 {
            q.push(t(0), Kind::Data, vec![1]);
        }
        assert_eq!(q.next_seq(), SeqNr(2));
        let out = q.ack_cumulative(t(1), SeqNr(0));
        assert_eq!(out.packets, 3);
        assert_eq!(q.base(), SeqNr(1));
    }
}
