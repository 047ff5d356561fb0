//! Property tests of the send queue's acknowledgement bookkeeping (the SACK scoreboard) against
//! a model: the set of sequence numbers acknowledged, selectively or cumulatively, and of those
//! judged lost, across the 16-bit wrap of BEP 29 sequence numbers.
//!
//! Each run sends packets of arbitrary sizes from a starting number near (or anywhere before) the
//! wrap, then applies cumulative ACKs, selective ACKs with arbitrary masks and `ack_nr`s (current
//! or stale, bits past what was sent), loss marks, retransmissions and more sends, in any order.
//! After every step the queue must agree with the model on:
//! * which packets are outstanding (`base`, `len`) and which of them are selectively acknowledged
//!   or lost;
//! * the bytes in flight: every outstanding packet neither selectively acknowledged nor lost;
//! * the counts and sums each acknowledgement reports (bytes and packets newly acknowledged, a
//!   lost packet delivered after all, the SYN or FIN acknowledged).

use super::{Kind, SendQueue, HEADER_BYTES};
use crate::proto::seq::SeqNr;
use crate::proto::time::Instant;
use proptest::prelude::*;
use std::collections::VecDeque;

/// Steps per run at most (fewer under Miri, which interprets every check of every step).
const MAX_OPS: usize = if cfg!(miri) { 12 } else { 60 };

/// One outstanding packet as the model sees it.
#[derive(Debug, Clone)]
struct Sent {
    seq: SeqNr,
    size: usize,
    kind: Kind,
    sacked: bool,
    lost: bool,
}

/// One step of a run; offsets count from the oldest outstanding packet.
#[derive(Debug, Clone)]
enum Op {
    /// Send packets with these payload lengths.
    Send(Vec<usize>),
    /// Cumulative ACK of `base - 1 + offset` (0: nothing new; `len`: everything).
    Cumulative(u16),
    /// Selective ACK with `ack_nr = base - 1 + offset - stale` and this mask.
    Selective {
        offset: u16,
        stale: u16,
        mask: Vec<bool>,
    },
    /// Mark the packet at this offset lost.
    MarkLost(u16),
    /// Retransmission timeout: everything not selectively acknowledged is lost.
    MarkAllLost,
    /// Three duplicate ACKs: the oldest is lost.
    MarkFrontLost,
    /// Resend the packet at this offset.
    Retransmit(u16),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => proptest::collection::vec(0usize..200, 1..8).prop_map(Op::Send),
        2 => (0u16..70).prop_map(Op::Cumulative),
        4 => (0u16..70, prop_oneof![3 => Just(0u16), 1 => 0u16..5], proptest::collection::vec(any::<bool>(), 0..100))
            .prop_map(|(offset, stale, mask)| Op::Selective { offset, stale, mask }),
        1 => (0u16..70).prop_map(Op::MarkLost),
        1 => Just(Op::MarkAllLost),
        1 => Just(Op::MarkFrontLost),
        1 => (0u16..70).prop_map(Op::Retransmit),
    ]
}

fn arb_start() -> impl Strategy<Value = u16> {
    prop_oneof![0xFFB0u16..=0xFFFF, any::<u16>()]
}

/// Sends one packet of `kind` with `len` payload bytes on the queue and in the model.
fn send(
    q: &mut SendQueue,
    model: &mut VecDeque<Sent>,
    next: &mut SeqNr,
    kind: Kind,
    len: usize,
    now: u64,
) {
    let mut payload = q.take_buffer();
    payload.resize(len, 0xA5);
    let seq = q.push(Instant::from_micros(now), kind, payload).seq;
    assert_eq!(seq, *next, "sequence numbers are consecutive");
    model.push_back(Sent {
        seq,
        size: len + HEADER_BYTES,
        kind,
        sacked: false,
        lost: false,
    });
    *next = next.next();
}

proptest! {
    #[test]
    fn sack_scoreboard_matches_a_model_of_acknowledged_sequence_numbers(
        start in arb_start(),
        syn in any::<bool>(),
        first in proptest::collection::vec(0usize..200, 0..40),
        ops in proptest::collection::vec(arb_op(), 1..MAX_OPS),
        fin_step in proptest::option::of(0usize..MAX_OPS),
    ) {
        let mut q = SendQueue::new(SeqNr(start), 200);
        let mut model: VecDeque<Sent> = VecDeque::new();
        let mut next = SeqNr(start);
        let mut now = 0u64;
        if syn {
            send(&mut q, &mut model, &mut next, Kind::Syn, 0, now);
        }
        for &len in &first {
            send(&mut q, &mut model, &mut next, Kind::Data, len, now);
        }
        let mut fin_sent = false;
        for (step, op) in ops.into_iter().enumerate() {
            now += 1000;
            let t = Instant::from_micros(now);
            if fin_step == Some(step) {
                send(&mut q, &mut model, &mut next, Kind::Fin, 0, now);
                fin_sent = true;
            }
            let base = model.front().map_or(next, |p| p.seq);
            match op {
                Op::Send(lens) => {
                    // Nothing follows a FIN.
                    for len in lens.into_iter().filter(|_| !fin_sent) {
                        send(&mut q, &mut model, &mut next, Kind::Data, len, now);
                    }
                }
                Op::Cumulative(offset) => {
                    let offset = offset.min(model.len() as u16);
                    let ack_nr = base.prev().add(offset);
                    prop_assert!(q.ack_is_plausible(ack_nr));
                    let out = q.ack_cumulative(t, ack_nr);
                    let gone: Vec<Sent> = model.drain(..usize::from(offset)).collect();
                    prop_assert_eq!(out.packets, gone.len());
                    prop_assert_eq!(
                        out.bytes,
                        gone.iter().filter(|p| !p.sacked).map(|p| p.size).sum::<usize>()
                    );
                    prop_assert_eq!(out.lost_was_delivered, gone.iter().any(|p| p.lost));
                    prop_assert_eq!(out.syn_acked, gone.iter().any(|p| p.kind == Kind::Syn));
                    prop_assert_eq!(out.fin_acked, gone.iter().any(|p| p.kind == Kind::Fin));
                }
                Op::Selective { offset, stale, mask } => {
                    let offset = offset.min(model.len() as u16);
                    let ack_nr = base.prev().add(offset).sub(stale);
                    let out = q.ack_selective(t, ack_nr, mask.len(), |i| mask[i]);
                    // Bit i names ack_nr + 2 + i; only outstanding packets count, once.
                    let (mut bytes, mut lost_delivered) = (0, false);
                    for (i, _) in mask.iter().enumerate().filter(|(_, &set)| set) {
                        let seq = ack_nr.add(2 + i as u16);
                        let at = usize::from(seq.distance_from(base));
                        if let Some(p) = model.get_mut(at).filter(|p| !p.sacked) {
                            p.sacked = true;
                            lost_delivered |= p.lost;
                            p.lost = false;
                            bytes += p.size;
                        }
                    }
                    prop_assert_eq!(out.bytes, bytes);
                    prop_assert_eq!(out.packets, 0, "a selective ACK removes nothing");
                    prop_assert_eq!(out.lost_was_delivered, lost_delivered);
                }
                Op::MarkLost(offset) => {
                    let seq = base.add(offset);
                    let changed = q.mark_lost(seq);
                    let want = match model.get_mut(usize::from(offset)) {
                        Some(p) if !p.sacked && !p.lost => {
                            p.lost = true;
                            true
                        }
                        _ => false,
                    };
                    prop_assert_eq!(changed, want);
                }
                Op::MarkAllLost => {
                    q.mark_all_lost();
                    for p in model.iter_mut().filter(|p| !p.sacked) {
                        p.lost = true;
                    }
                }
                Op::MarkFrontLost => {
                    let changed = q.mark_front_lost();
                    let want = match model.front_mut() {
                        Some(p) if !p.sacked && !p.lost => {
                            p.lost = true;
                            true
                        }
                        _ => false,
                    };
                    prop_assert_eq!(changed, want);
                }
                Op::Retransmit(offset) => {
                    let seq = base.add(offset);
                    let got = q.retransmit(t, seq).map(|p| p.seq);
                    let want = match model.get_mut(usize::from(offset)) {
                        Some(p) if !p.sacked => {
                            p.lost = false;
                            Some(p.seq)
                        }
                        _ => None,
                    };
                    prop_assert_eq!(got, want);
                }
            }
            // The queue and the model agree on every outstanding packet.
            prop_assert_eq!(q.len(), model.len());
            prop_assert_eq!(q.base(), model.front().map_or(next, |p| p.seq));
            prop_assert_eq!(q.next_seq(), next);
            for p in &model {
                let Some(got) = q.get(p.seq) else {
                    return Err(TestCaseError::fail(format!("{:?} is not outstanding", p.seq)));
                };
                prop_assert_eq!((got.seq, got.size(), got.kind), (p.seq, p.size, p.kind));
                prop_assert_eq!((got.sacked, got.lost), (p.sacked, p.lost), "flags of {:?}", p.seq);
            }
            prop_assert!(q.get(next).is_none(), "nothing past what was sent");
            prop_assert_eq!(
                q.in_flight(),
                model.iter().filter(|p| !p.sacked && !p.lost).map(|p| p.size).sum::<usize>()
            );
            prop_assert_eq!(q.lost_count(), model.iter().filter(|p| p.lost).count());
            prop_assert_eq!(
                q.buffered_payload(),
                model.iter().map(|p| p.size - HEADER_BYTES).sum::<usize>()
            );
            let oldest_lost = model.iter().find(|p| p.lost).map(|p| p.seq);
            prop_assert_eq!(q.first_lost(), oldest_lost);
        }
    }
}
