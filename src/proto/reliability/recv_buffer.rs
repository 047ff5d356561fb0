//! The receive side of a connection: in-order bytes waiting for the reader, and packets that
//! arrived ahead of a gap (the reorder buffer), plus the peer's FIN position.
//!
//! Invariants:
//! * `ack_nr` is the last sequence number received in order (BEP 29 `ack_nr`).
//! * Slot `i` of the reorder ring holds sequence number `ack_nr + 2 + i` (slot for `ack_nr + 1`
//!   is never needed: that packet is in order by definition). This is also the selective-ACK bit
//!   layout of BEP 29, so a SACK mask is the slot occupancy.
//! * Bytes held (`readable` plus reorder payloads) stay within the capacity plus one packet of
//!   slack: one packet past a full buffer is accepted so that a zero-window probe is not lost
//!   for want of a few bytes.
//! * Packets out of order are stored only within the capacity: the slack stays free for the
//!   packet that fills the gap. Otherwise a sender that overruns our window (libutp does not
//!   count selectively acknowledged packets against it) fills the buffer with data that cannot
//!   be read, the gap's retransmissions find no room, and the connection stalls for good (seen
//!   as an intermittent stall of the reference libutp sending to us through a lossy relay).
//! * Each packet held out of order is charged its payload but at least
//!   [`HELD_PACKET_MIN_CHARGE`] bytes, so a peer sending many tiny packets ahead of a gap
//!   cannot make us hold more memory than the buffer's size allows: heap held out of order
//!   stays below twice the capacity (a packet of at least half a pool buffer sits in a pooled
//!   buffer, a smaller one in an allocation of its own size, at most twice its charge with the
//!   allocator's header), plus the slot table (24 bytes per slot, at most
//!   [`MAX_REORDER_SLOTS`]). Empty packets allocate nothing and are not charged.

use crate::proto::seq::SeqNr;
use std::collections::VecDeque;

use super::pool::BufferPool;

/// Largest number of reorder slots, whatever the buffer size: keeps every distance far below
/// half the 16-bit sequence space (BEP 29 sequence numbers wrap at 2^16). The sender keeps no
/// more packets than this in flight either.
pub const MAX_REORDER_SLOTS: usize = crate::proto::config::MAX_PACKETS_IN_FLIGHT;

/// The least a non-empty packet held out of order is charged against the receive buffer: a
/// small allocation costs the allocator's header and rounding beyond its payload (glibc's
/// malloc: at least 32 bytes per chunk, in 16-byte granules), so a 1-byte packet is charged
/// as 64. Our own choice; full-size packets are charged their payload, so the window a
/// sender is promised still holds as many of them.
pub const HELD_PACKET_MIN_CHARGE: usize = 64;

/// Bytes charged against the buffer for a packet of `len` bytes held out of order.
fn charge(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        len.max(HELD_PACKET_MIN_CHARGE)
    }
}

/// Reorder slots for a buffer of `capacity` bytes: room for packets of 64 bytes and more, plus
/// 64 for tiny ones, at most [`MAX_REORDER_SLOTS`].
fn slots_for(capacity: usize) -> usize {
    (capacity / 64 + 64).min(MAX_REORDER_SLOTS)
}

/// What happened to an inserted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// It was the next expected packet; `advanced` packets (it and any buffered ones after it)
    /// became in-order.
    InOrder {
        /// Number of sequence numbers `ack_nr` advanced by.
        advanced: u16,
    },
    /// Stored ahead of a gap.
    OutOfOrder,
    /// Already received (before `ack_nr`, or already in the reorder buffer).
    Duplicate,
    /// Not stored: too far ahead, past the peer's FIN, or no room in the buffer.
    Dropped,
}

/// Receive buffer and reorder buffer of one connection.
#[derive(Debug)]
pub struct RecvBuffer {
    capacity: usize,
    slack: usize,
    max_slots: usize,
    ack_nr: SeqNr,
    readable: VecDeque<u8>,
    reorder: VecDeque<Option<Slot>>,
    /// What the packets held out of order are charged (see [`charge`]).
    reorder_bytes: usize,
    eof: Option<SeqNr>,
    discard: bool,
    pool: BufferPool,
}

#[derive(Debug)]
struct Slot {
    data: Vec<u8>,
}

impl RecvBuffer {
    /// A buffer of `capacity` bytes whose last in-order packet is `ack_nr`; `packet_payload` is
    /// the largest payload a packet can carry (the overshoot allowance).
    pub fn new(capacity: usize, packet_payload: usize, ack_nr: SeqNr) -> Self {
        let max_slots = slots_for(capacity);
        RecvBuffer {
            capacity,
            slack: packet_payload,
            max_slots,
            ack_nr,
            readable: VecDeque::new(),
            reorder: VecDeque::new(),
            reorder_bytes: 0,
            eof: None,
            discard: false,
            pool: BufferPool::new(packet_payload),
        }
    }

    /// The last sequence number received in order.
    pub fn ack_nr(&self) -> SeqNr {
        self.ack_nr
    }

    /// Resets the in-order point (the initiator learns the peer's first number from the SYN-ACK).
    pub fn set_ack_nr(&mut self, ack_nr: SeqNr) {
        debug_assert!(self.reorder.is_empty());
        self.ack_nr = ack_nr;
    }

    /// The buffer's size in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Enlarges the buffer to `capacity` bytes (receive autotuning); a smaller value is ignored,
    /// as shrinking could drop data the peer was allowed to send.
    pub fn grow_to(&mut self, capacity: usize) {
        if capacity > self.capacity {
            self.capacity = capacity;
            self.max_slots = slots_for(capacity);
        }
    }

    /// Bytes buffered, in order and out of order (a packet held out of order is charged at
    /// least [`HELD_PACKET_MIN_CHARGE`]).
    pub fn buffered(&self) -> usize {
        self.readable.len() + self.reorder_bytes
    }

    /// Bytes ready for the reader.
    pub fn readable_len(&self) -> usize {
        self.readable.len()
    }

    /// Free space to advertise as our receive window, after `external` bytes the application
    /// holds elsewhere (libutp's `UTP_GET_READ_BUFFER_SIZE`).
    pub fn window(&self, external: usize) -> usize {
        self.capacity
            .saturating_sub(self.buffered().saturating_add(external))
    }

    /// True when the peer's FIN has been received and every packet before it too.
    pub fn fin_reached(&self) -> bool {
        self.eof == Some(self.ack_nr)
    }

    /// The peer's FIN sequence number, once seen.
    pub fn eof(&self) -> Option<SeqNr> {
        self.eof
    }

    /// True when out-of-order packets are held (the next ACK should carry a SACK).
    pub fn has_gaps(&self) -> bool {
        !self.reorder.is_empty()
    }

    /// Whether the read side is shut down ([`Self::discard_incoming`]).
    pub fn discarding(&self) -> bool {
        self.discard
    }

    /// Stop keeping payload for the reader (read side shut down): later data is acknowledged
    /// and dropped.
    pub fn discard_incoming(&mut self) {
        self.discard = true;
        self.readable.clear();
        // Payload held out of order is dropped too, while its slots stay (they are still
        // acknowledged): once the gap before it is filled by a packet whose payload is
        // discarded, it must not surface as if it followed what was read last (found by the
        // endpoint fuzz target: a read after close returned the stream from byte 128 on).
        for slot in self.reorder.iter_mut().flatten() {
            let data = std::mem::take(&mut slot.data);
            self.reorder_bytes -= charge(data.len());
            self.pool.give(data);
        }
    }

    /// Frees the memory an idle buffer keeps for reuse: the capacity of an empty in-order
    /// queue and reorder ring, and the pooled packet buffers.
    pub fn release_idle(&mut self) {
        if self.readable.is_empty() {
            self.readable = VecDeque::new();
        }
        if self.reorder.is_empty() {
            self.reorder = VecDeque::new();
        }
        self.pool.clear();
    }

    /// Takes in packet `seq` carrying `payload`; `fin` marks the peer's FIN (no payload).
    pub fn insert(&mut self, seq: SeqNr, payload: &[u8], fin: bool) -> Inserted {
        if seq.distance_from(self.ack_nr) == 0 || seq.precedes(self.ack_nr) {
            return Inserted::Duplicate;
        }
        if let Some(eof) = self.eof {
            if seq.follows(eof) || (fin && seq != eof) {
                return Inserted::Dropped;
            }
        }
        let ahead = usize::from(seq.distance_from(self.ack_nr)) - 1;
        if ahead >= self.max_slots {
            return Inserted::Dropped;
        }
        // A packet already held is a duplicate, whether or not there is room for it and even
        // when it is the FIN (whose handling below would otherwise drop and store it again).
        if ahead > 0 && matches!(self.reorder.get(ahead - 1), Some(Some(_))) {
            return Inserted::Duplicate;
        }
        let stored_len = if self.discard { 0 } else { payload.len() };
        let room = if ahead == 0 {
            self.capacity + self.slack
        } else {
            self.capacity
        };
        let charged = if ahead == 0 {
            stored_len
        } else {
            charge(stored_len)
        };
        if stored_len > 0 && self.buffered() + charged > room {
            return Inserted::Dropped;
        }
        if fin {
            self.eof = Some(seq);
            // Packets stored beyond the FIN can never be delivered (nor acknowledged).
            self.truncate_reorder(ahead.saturating_sub(1));
        }
        if ahead == 0 {
            self.ack_nr = seq;
            self.readable.extend(&payload[..stored_len]);
            let mut advanced = 1u16;
            if !self.reorder.is_empty() {
                // Slot 0 was ack_nr + 2 before this packet; now it is the new ack_nr + 1.
                advanced += self.drain_in_order();
            }
            return Inserted::InOrder { advanced };
        }
        let index = ahead - 1;
        if self.reorder.len() <= index {
            self.reorder.resize_with(index + 1, || None);
        }
        // A pooled buffer has room for a full packet: a small payload gets an allocation of
        // its own size instead, so that many tiny packets cannot pin many large buffers.
        let data = if stored_len == 0 {
            Vec::new()
        } else if 2 * stored_len >= self.slack {
            let mut data = self.pool.take();
            data.extend_from_slice(&payload[..stored_len]);
            data
        } else {
            payload[..stored_len].to_vec()
        };
        self.reorder_bytes += charged;
        self.reorder[index] = Some(Slot { data });
        Inserted::OutOfOrder
    }

    /// Takes in packet `seq`, `len` bytes of data, without storing its payload: the caller
    /// hands the payload to the reader itself. Only for the next expected packet while nothing
    /// waits to be read (so the payload is the next byte of the stream the reader sees) and the
    /// read side is open, within the same room an in-order packet gets; `None` otherwise, and
    /// the packet is then for [`Self::insert`]. Packets held out of order that now follow it
    /// become readable, as with `insert`.
    pub fn insert_in_place(&mut self, seq: SeqNr, len: usize) -> Option<Inserted> {
        let next = seq == self.ack_nr.next();
        let before_eof = self.eof.is_none_or(|eof| seq.precedes(eof));
        let room = self.reorder_bytes + len <= self.capacity + self.slack;
        if !next || !before_eof || !room || self.discard || !self.readable.is_empty() {
            return None;
        }
        self.ack_nr = seq;
        let mut advanced = 1u16;
        if !self.reorder.is_empty() {
            advanced += self.drain_in_order();
        }
        Some(Inserted::InOrder { advanced })
    }

    /// Drops reorder slots from index `len` on.
    fn truncate_reorder(&mut self, len: usize) {
        while self.reorder.len() > len {
            if let Some(Some(slot)) = self.reorder.pop_back() {
                self.reorder_bytes -= charge(slot.data.len());
                self.pool.give(slot.data);
            }
        }
    }

    /// After `ack_nr` moved by one, moves the packets that are now in order to `readable`.
    fn drain_in_order(&mut self) -> u16 {
        // The front slot corresponds to ack_nr + 1 now.
        let mut advanced = 0;
        while let Some(front) = self.reorder.front() {
            if front.is_none() {
                // The gap slot for the new ack_nr + 1 is still empty: drop it so that slot 0
                // again means ack_nr + 2.
                self.reorder.pop_front();
                break;
            }
            if let Some(Some(slot)) = self.reorder.pop_front() {
                self.reorder_bytes -= charge(slot.data.len());
                self.readable.extend(&slot.data);
                self.pool.give(slot.data);
                self.ack_nr = self.ack_nr.next();
                advanced += 1;
            }
        }
        // Trailing empty slots are never needed.
        while matches!(self.reorder.back(), Some(None)) {
            self.reorder.pop_back();
        }
        advanced
    }

    /// Copies readable bytes into `buf`, returning how many.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.readable.len());
        let (a, b) = self.readable.as_slices();
        let from_a = n.min(a.len());
        buf[..from_a].copy_from_slice(&a[..from_a]);
        buf[from_a..n].copy_from_slice(&b[..n - from_a]);
        self.readable.drain(..n);
        if self.readable.is_empty() {
            // Back to the start of the ring (`clear` resets it): a reader that keeps up then
            // keeps reusing the same few cache-warm bytes instead of walking a ring of
            // megabytes.
            self.readable.clear();
        }
        n
    }

    /// Writes the selective-ACK mask (BEP 29: bit i = packet `ack_nr + 2 + i` received) into
    /// `out`, at most `out.len()` bytes rounded down to a multiple of 4. Returns the mask length
    /// (0 when there is nothing out of order).
    pub fn write_sack(&self, out: &mut [u8]) -> usize {
        let limit_bits = (out.len() / 4) * 32;
        let bits = self.reorder.len().min(limit_bits);
        if bits == 0 {
            return 0;
        }
        let len = bits.div_ceil(32) * 4;
        out[..len].fill(0);
        for (i, slot) in self.reorder.iter().take(bits).enumerate() {
            if slot.is_some() {
                out[i / 8] |= 1 << (i % 8);
            }
        }
        len
    }
}

#[cfg(test)]
#[path = "recv_buffer_proptests.rs"]
mod proptests;

#[cfg(test)]
#[path = "recv_buffer_in_place_tests.rs"]
mod in_place_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn buf() -> RecvBuffer {
        RecvBuffer::new(10_000, 1000, SeqNr(100))
    }

    #[test]
    fn in_order_then_gap_then_fill() {
        let mut b = buf();
        assert_eq!(
            b.insert(SeqNr(101), b"ab", false),
            Inserted::InOrder { advanced: 1 }
        );
        assert_eq!(b.insert(SeqNr(103), b"d", false), Inserted::OutOfOrder);
        assert_eq!(b.insert(SeqNr(104), b"e", false), Inserted::OutOfOrder);
        assert!(b.has_gaps());
        let mut mask = [0u8; 8];
        assert_eq!(b.write_sack(&mut mask), 4);
        // ack_nr = 101: bit 0 = 103, bit 1 = 104.
        assert_eq!(mask[0], 0b11);
        assert_eq!(
            b.insert(SeqNr(102), b"c", false),
            Inserted::InOrder { advanced: 3 }
        );
        assert_eq!(b.ack_nr(), SeqNr(104));
        assert!(!b.has_gaps());
        let mut out = [0u8; 3];
        assert_eq!(b.read(&mut out), 3);
        assert_eq!(&out, b"abc");
        assert_eq!(b.read(&mut out), 2);
        assert_eq!(&out[..2], b"de");
    }

    #[test]
    fn fin_drops_packets_stored_beyond_it() {
        let mut b = buf();
        assert_eq!(b.insert(SeqNr(104), b"zz", false), Inserted::OutOfOrder);
        assert_eq!(b.insert(SeqNr(102), b"", true), Inserted::OutOfOrder);
        assert_eq!(b.buffered(), 0);
        assert_eq!(
            b.insert(SeqNr(101), b"a", false),
            Inserted::InOrder { advanced: 2 }
        );
        assert!(b.fin_reached());
        assert_eq!(b.ack_nr(), SeqNr(102));
    }

    #[test]
    fn a_held_packet_arriving_again_is_a_duplicate() {
        // Found by the reorder-buffer property test: a FIN held out of order that arrived
        // again was dropped and stored anew (reported as new data, not counted as a duplicate).
        let mut b = buf();
        assert_eq!(b.insert(SeqNr(103), b"", true), Inserted::OutOfOrder);
        assert_eq!(b.insert(SeqNr(103), b"", true), Inserted::Duplicate);
        assert_eq!(b.eof(), Some(SeqNr(103)));
        // A held packet repeated when the buffer is full is a duplicate too, not a drop.
        let mut b = RecvBuffer::new(1000, 1000, SeqNr(0));
        assert_eq!(b.insert(SeqNr(2), &[7; 1000], false), Inserted::OutOfOrder);
        assert_eq!(b.insert(SeqNr(2), &[7; 1000], false), Inserted::Duplicate);
        assert_eq!(b.buffered(), 1000);
    }

    #[test]
    fn duplicates_and_far_packets() {
        let mut b = buf();
        assert_eq!(b.insert(SeqNr(100), b"x", false), Inserted::Duplicate);
        assert_eq!(b.insert(SeqNr(90), b"x", false), Inserted::Duplicate);
        assert_eq!(b.insert(SeqNr(105), b"x", false), Inserted::OutOfOrder);
        assert_eq!(b.insert(SeqNr(105), b"x", false), Inserted::Duplicate);
        assert_eq!(b.insert(SeqNr(100 + 5000), b"x", false), Inserted::Dropped);
    }

    #[test]
    fn fin_out_of_order_is_reached_after_the_data() {
        let mut b = buf();
        assert_eq!(b.insert(SeqNr(103), b"", true), Inserted::OutOfOrder);
        assert!(!b.fin_reached());
        assert_eq!(b.insert(SeqNr(104), b"late", false), Inserted::Dropped);
        b.insert(SeqNr(101), b"a", false);
        assert!(!b.fin_reached());
        assert_eq!(
            b.insert(SeqNr(102), b"b", false),
            Inserted::InOrder { advanced: 2 }
        );
        assert!(b.fin_reached());
        assert_eq!(b.readable_len(), 2);
    }

    #[test]
    fn packets_out_of_order_leave_room_for_the_one_that_fills_the_gap() {
        // A sender beyond our window fills the buffer with packets behind a gap.
        let mut b = RecvBuffer::new(4000, 1000, SeqNr(0));
        let mut stored = 0;
        for seq in 2..20 {
            if b.insert(SeqNr(seq), &[seq as u8; 1000], false) == Inserted::OutOfOrder {
                stored += 1;
            }
        }
        assert_eq!(stored, 4, "out-of-order data only up to the capacity");
        // The gap's packet still fits, and everything stored becomes readable.
        assert_eq!(
            b.insert(SeqNr(1), &[1; 1000], false),
            Inserted::InOrder { advanced: 5 }
        );
        let mut sink = [0u8; 8192];
        assert_eq!(b.read(&mut sink), 5000);
        assert!(sink[..5000]
            .chunks(1000)
            .zip(1u8..)
            .all(|(c, v)| c.iter().all(|&x| x == v)));
    }

    #[test]
    fn discarding_drops_what_is_held_out_of_order_too() {
        let mut b = buf();
        assert_eq!(b.insert(SeqNr(102), b"later", false), Inserted::OutOfOrder);
        b.discard_incoming();
        // The gap is filled; nothing after it becomes readable, and both are acknowledged.
        assert_eq!(
            b.insert(SeqNr(101), b"first", false),
            Inserted::InOrder { advanced: 2 }
        );
        let mut out = [0u8; 16];
        assert_eq!(b.read(&mut out), 0);
        assert_eq!(b.buffered(), 0);
        assert_eq!(b.ack_nr(), SeqNr(102));
    }

    #[test]
    fn window_shrinks_and_a_full_buffer_drops() {
        let mut b = RecvBuffer::new(2000, 1000, SeqNr(0));
        assert_eq!(b.window(0), 2000);
        b.insert(SeqNr(1), &[0; 1000], false);
        b.insert(SeqNr(2), &[0; 1000], false);
        assert_eq!(b.window(0), 0);
        // One packet of slack is accepted, then nothing.
        assert_eq!(
            b.insert(SeqNr(3), &[0; 1000], false),
            Inserted::InOrder { advanced: 1 }
        );
        assert_eq!(b.insert(SeqNr(4), &[0; 1], false), Inserted::Dropped);
        // Empty packets always fit.
        assert_eq!(
            b.insert(SeqNr(4), &[], false),
            Inserted::InOrder { advanced: 1 }
        );
        let mut sink = [0u8; 4096];
        assert_eq!(b.read(&mut sink), 3000);
        assert_eq!(b.window(500), 1500);
    }

    #[test]
    fn growing_opens_the_window_and_the_reorder_reach() {
        let mut b = RecvBuffer::new(640, 100, SeqNr(0));
        // 640 / 64 + 64 = 74 slots: a packet 80 ahead does not fit.
        assert_eq!(b.insert(SeqNr(81), &[1], false), Inserted::Dropped);
        b.grow_to(64_000);
        assert_eq!(b.capacity(), 64_000);
        assert_eq!(b.window(0), 64_000);
        assert_eq!(b.insert(SeqNr(81), &[1], false), Inserted::OutOfOrder);
        // Never shrinks.
        b.grow_to(1000);
        assert_eq!(b.capacity(), 64_000);
        assert_eq!(b.window(0), 64_000 - HELD_PACKET_MIN_CHARGE);
    }

    #[test]
    fn sequence_wrap() {
        let mut b = RecvBuffer::new(10_000, 1000, SeqNr(0xFFFE));
        assert_eq!(b.insert(SeqNr(0), b"b", false), Inserted::OutOfOrder);
        assert_eq!(
            b.insert(SeqNr(0xFFFF), b"a", false),
            Inserted::InOrder { advanced: 2 }
        );
        assert_eq!(b.ack_nr(), SeqNr(0));
        let mut out = [0u8; 2];
        assert_eq!(b.read(&mut out), 2);
        assert_eq!(&out, b"ab");
    }

    #[test]
    fn sack_covers_more_than_32_packets() {
        let mut b = buf();
        for i in 0..100u16 {
            b.insert(SeqNr(102 + i * 2), b"x", false);
        }
        let mut mask = [0u8; 64];
        let len = b.write_sack(&mut mask);
        assert_eq!(len, 28); // 198 bits rounded up to 224
        for i in 0..198usize {
            let set = mask[i / 8] & (1 << (i % 8)) != 0;
            assert_eq!(set, i % 2 == 0, "bit {i}");
        }
    }

    #[test]
    fn discard_acknowledges_without_keeping() {
        let mut b = buf();
        b.discard_incoming();
        assert_eq!(
            b.insert(SeqNr(101), b"abc", false),
            Inserted::InOrder { advanced: 1 }
        );
        assert_eq!(b.readable_len(), 0);
        assert_eq!(b.window(0), 10_000);
    }

    #[test]
    fn tiny_packets_out_of_order_are_charged_their_overhead() {
        // A hostile peer sends 1-byte packets ahead of a gap that it never fills: what we hold
        // is bounded by the buffer's size, not by the number of reorder slots.
        let capacity = 64 * 1024;
        let mut b = RecvBuffer::new(capacity, 1400, SeqNr(0));
        let mut stored = 0;
        for seq in 2..=MAX_REORDER_SLOTS as u16 {
            if b.insert(SeqNr(seq), b"x", false) == Inserted::OutOfOrder {
                stored += 1;
            }
        }
        // Without the charge all 1087 slots (64 KiB / 64 + 64) would be filled.
        assert_eq!(stored, capacity / HELD_PACKET_MIN_CHARGE);
        assert!(b.buffered() <= capacity);
        assert!(b.window(0) < HELD_PACKET_MIN_CHARGE);
        // Each is held in an allocation of its own size, not a pooled full-packet buffer.
        assert!(b
            .reorder
            .iter()
            .flatten()
            .all(|slot| slot.data.capacity() < 1400 / 2));
        // The packet that fills the gap still fits, and everything becomes readable.
        assert_eq!(
            b.insert(SeqNr(1), &[7; 1400], false),
            Inserted::InOrder {
                advanced: stored as u16 + 1
            }
        );
        assert_eq!(b.readable_len(), 1400 + stored);
        assert_eq!(b.buffered(), 1400 + stored);
    }
}
