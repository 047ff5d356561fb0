//! Property tests of the receive and reorder buffer against a model.
//!
//! The peer's stream is a fixed sequence of packets `ack_nr + 1, ack_nr + 2, ...`, each with a
//! length drawn once and bytes taken from one stream position counter, so any byte read twice,
//! skipped or read out of order shows as a mismatch. Packets arrive in an arbitrary order, with
//! duplicates, gaps and packets far ahead; the peer's FIN sits at some position (or nowhere);
//! reads of arbitrary sizes are interleaved. The model is what BEP 29 and the module's invariants
//! promise:
//! * what is readable is exactly the next bytes of the in-order prefix, never beyond a gap;
//! * `ack_nr` is the end of the longest run of packets received without a gap;
//! * a packet is stored only within the reach of the reorder slots, and only if it fits: the
//!   capacity for packets out of order, the capacity plus one packet of slack for the next one;
//! * a packet already received (in order or held) is a duplicate and changes nothing;
//! * nothing after the peer's FIN is stored, and the FIN is reached when every packet before it is;
//! * the selective-ACK mask has exactly the held packets' bits.

use super::{Inserted, RecvBuffer, MAX_REORDER_SLOTS};
use crate::proto::seq::SeqNr;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Packets of the peer's stream, counted from 1 (packet `k` has sequence number `start + k`).
const STREAM_PACKETS: usize = 48;

/// Steps per run at most (fewer under Miri, which interprets every check of every step).
const MAX_OPS: usize = if cfg!(miri) { 24 } else { 200 };

/// One step of a run.
#[derive(Debug, Clone)]
enum Op {
    /// Packet `k` of the stream arrives (possibly again).
    Arrive(usize),
    /// A packet `k` past the last one still expected arrives (beyond the reorder reach or not).
    Far(usize),
    /// The application reads up to this many bytes.
    Read(usize),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..=STREAM_PACKETS).prop_map(Op::Arrive),
        1 => (60usize..400).prop_map(Op::Far),
        2 => (0usize..700).prop_map(Op::Read),
    ]
}

/// Starting `ack_nr`: often just before the 16-bit wrap so that runs cross it.
fn arb_start() -> impl Strategy<Value = u16> {
    prop_oneof![0xFFC0u16..=0xFFFF, any::<u16>()]
}

/// The byte at stream position `pos`: varies with every position within a run's reach.
fn stream_byte(pos: usize) -> u8 {
    (pos ^ (pos >> 8) ^ (pos >> 3)) as u8
}

/// What the model expects of one arrival.
#[derive(Debug)]
struct Model {
    capacity: usize,
    slack: usize,
    slots: usize,
    /// Packets received in order (the model's `ack_nr - start`).
    delivered: usize,
    /// Packets held out of order: stream index -> payload length.
    held: BTreeMap<usize, usize>,
    /// Stream position of the next byte to read, and bytes readable.
    read_pos: usize,
    readable: usize,
    /// Stream index of the peer's FIN, once accepted.
    eof: Option<usize>,
}

impl Model {
    /// What the held packets count against the capacity: each at least
    /// `HELD_PACKET_MIN_CHARGE` bytes (an empty one nothing).
    fn held_charge(&self) -> usize {
        self.held
            .values()
            .map(|&len| {
                if len == 0 {
                    0
                } else {
                    len.max(super::HELD_PACKET_MIN_CHARGE)
                }
            })
            .sum()
    }

    fn buffered(&self) -> usize {
        self.readable + self.held_charge()
    }

    /// The outcome the model predicts for packet `k` of length `len`, applied to the model.
    fn arrive(&mut self, k: usize, len: usize, fin: bool) -> Inserted {
        if k <= self.delivered {
            return Inserted::Duplicate;
        }
        if self.held.contains_key(&k) {
            return Inserted::Duplicate;
        }
        if let Some(eof) = self.eof {
            if k > eof || (fin && k != eof) {
                return Inserted::Dropped;
            }
        }
        let ahead = k - self.delivered - 1;
        if ahead >= self.slots {
            return Inserted::Dropped;
        }
        let room = if ahead == 0 {
            self.capacity + self.slack
        } else {
            self.capacity
        };
        let charged = if ahead == 0 {
            len
        } else {
            len.max(super::HELD_PACKET_MIN_CHARGE)
        };
        if len > 0 && self.buffered() + charged > room {
            return Inserted::Dropped;
        }
        if fin {
            self.eof = Some(k);
            self.held.retain(|&held, _| held < k);
        }
        if ahead > 0 {
            self.held.insert(k, len);
            return Inserted::OutOfOrder;
        }
        self.delivered = k;
        self.readable += len;
        let mut advanced = 1;
        while let Some(len) = self.held.remove(&(self.delivered + 1)) {
            self.delivered += 1;
            self.readable += len;
            advanced += 1;
        }
        Inserted::InOrder { advanced }
    }
}

proptest! {
    #[test]
    fn reorder_buffer_delivers_exactly_the_in_order_prefix(
        start in arb_start(),
        capacity in 0usize..3000,
        slack in 1usize..300,
        lens_seed in proptest::collection::vec(0usize..=1000, STREAM_PACKETS),
        fin_at in proptest::option::of(1..=STREAM_PACKETS),
        ops in proptest::collection::vec(arb_op(), 1..MAX_OPS),
    ) {
        let start = SeqNr(start);
        // Packet lengths up to the slack (the largest payload a packet carries); stream
        // positions of each packet's first byte. Packets past the stream (Far) get the same
        // length rule and positions after it, so whatever they carry is recognisable too.
        let len_of = |k: usize| if Some(k) == fin_at { 0 } else { lens_seed[k % STREAM_PACKETS] % (slack + 1) };
        let mut offset = vec![0usize; 401];
        for k in 1..offset.len() {
            offset[k] = offset[k - 1] + len_of(k - 1);
        }
        let payload = |k: usize| -> Vec<u8> {
            (offset[k]..offset[k] + len_of(k)).map(stream_byte).collect()
        };
        let mut b = RecvBuffer::new(capacity, slack, start);
        let mut m = Model {
            capacity,
            slack,
            slots: (capacity / 64 + 64).min(MAX_REORDER_SLOTS),
            delivered: 0,
            held: BTreeMap::new(),
            read_pos: offset[1],
            readable: 0,
            eof: None,
        };
        for op in ops {
            match op {
                Op::Arrive(k) | Op::Far(k) => {
                    let fin = Some(k) == fin_at;
                    let before = (b.ack_nr(), b.buffered(), b.readable_len(), b.eof());
                    let got = b.insert(start.add(k as u16), &payload(k), fin);
                    let want = m.arrive(k, len_of(k), fin);
                    prop_assert_eq!(got, want, "packet {} (len {}, fin {})", k, len_of(k), fin);
                    if matches!(got, Inserted::Duplicate | Inserted::Dropped) {
                        prop_assert_eq!(
                            (b.ack_nr(), b.buffered(), b.readable_len(), b.eof()),
                            before,
                            "a refused packet changed the buffer"
                        );
                    }
                }
                Op::Read(n) => {
                    let mut out = vec![0u8; n];
                    let got = b.read(&mut out);
                    prop_assert_eq!(got, n.min(m.readable));
                    let want: Vec<u8> = (m.read_pos..m.read_pos + got).map(stream_byte).collect();
                    prop_assert_eq!(&out[..got], &want[..], "bytes at stream position {}", m.read_pos);
                    m.read_pos += got;
                    m.readable -= got;
                }
            }
            // Readable bytes end exactly where the in-order prefix ends, never past a gap.
            prop_assert_eq!(m.read_pos + m.readable, offset[m.delivered + 1]);
            prop_assert_eq!(b.ack_nr(), start.add(m.delivered as u16));
            prop_assert_eq!(b.readable_len(), m.readable);
            prop_assert_eq!(b.buffered(), m.buffered());
            prop_assert!(b.buffered() <= capacity + slack, "capacity plus one packet of slack");
            prop_assert!(m.held_charge() <= capacity, "held data within capacity");
            prop_assert_eq!(b.window(0), capacity.saturating_sub(m.buffered()));
            prop_assert_eq!(b.has_gaps(), !m.held.is_empty());
            prop_assert_eq!(b.eof(), m.eof.map(|k| start.add(k as u16)));
            prop_assert_eq!(b.fin_reached(), m.eof == Some(m.delivered));
            // The SACK mask: bit i is packet ack_nr + 2 + i, set exactly for held packets.
            let mut mask = [0u8; 128];
            let len = b.write_sack(&mut mask);
            match m.held.keys().next_back() {
                None => prop_assert_eq!(len, 0),
                Some(&last) => {
                    let bits = last - m.delivered - 1;
                    prop_assert_eq!(len, bits.div_ceil(32) * 4);
                    for i in 0..len * 8 {
                        let set = mask[i / 8] & (1 << (i % 8)) != 0;
                        prop_assert_eq!(set, m.held.contains_key(&(m.delivered + 2 + i)), "bit {}", i);
                    }
                }
            }
        }
    }
}
