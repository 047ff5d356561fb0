//! The endpoint's timer queue: a hierarchical timing wheel of (deadline, connection) entries
//! that always yields the entry with the exact earliest deadline, ties broken by the smaller
//! handle, so it pops exactly what a `BinaryHeap<Reverse<(Instant, ConnectionHandle)>>` would.
//!
//! # Layout
//! Deadlines are cut into ticks of [`TICK_SHIFT`] bits of microseconds (1.024 ms). The wheel
//! has a position, `base`, a tick. Entries whose tick is at or before `base` (the current tick
//! and the past) wait in `due`, a small binary heap that orders them exactly. Every other entry
//! sits in one of [`LEVELS`] levels of [`SLOTS`] slots: write ticks in base 64; an entry goes to
//! the level of the highest digit in which its tick differs from `base`, in the slot of that
//! digit. So level 0 holds the ticks of the current 64-tick span after `base`, level 1 the
//! later 64-tick spans of the current 4096-tick span, and so on; nine levels cover every tick a
//! `u64` of microseconds can name, so no deadline needs an overflow list. Within a level the
//! slots are in time order, and every entry of a level comes before every entry of the levels
//! above it; the earliest entry is therefore in the first occupied slot (lowest set bit of the
//! level's occupancy bitmap) of the lowest occupied level (lowest set bit of another bitmap).
//! Each slot remembers its smallest entry, updated on every push, so [`TimerWheel::peek`] is
//! exact and O(1) without moving anything.
//!
//! # Position
//! The wheel reads no clock. Its position moves only in [`TimerWheel::pop`], and only when `due`
//! is empty: it jumps to the tick of the earliest entry, and that entry's slot is emptied, its
//! entries of that tick into `due`, the others each into a strictly lower level (a cascade).
//! Peeking never moves it, so calls to `peek` need not come in time order. A push at or before
//! the position (an expired deadline, or one earlier than an entry already popped) goes to
//! `due`, where it is popped before everything in the levels.
//!
//! The position can therefore run ahead of the caller's clock: the endpoint pops stale entries
//! (lazy deletion) as soon as they are the earliest, even when their deadline is still in the
//! future, and every push before that deadline then goes to `due` until it is popped. That
//! costs O(log d) per such push, as the binary heap did, never correctness.
//!
//! # Cost
//! Push: O(1) into a level; O(log d) into `due` (d entries, those of the current tick and any
//! pushed behind the position). Peek: O(1). Pop: O(log d) from `due`, plus the cascades: an
//! entry moves down at most once per level, so at most [`LEVELS`] times in its life, O(1)
//! amortized. Memory: one 24-byte node per entry in the levels (nodes are linked into their
//! slots and recycled through a free list, so the node array is as large as the most entries
//! ever held at once, and steady-state pushes allocate nothing), `due`'s array, and 1.5 KiB per
//! level in use, allocated the first time an entry needs that level (levels 0 to 3 for deadlines
//! up to 4.4 minutes ahead). An empty wheel owns no heap memory.

use super::ConnectionHandle;
use crate::proto::time::Instant;
use core::cmp::Reverse;
use core::fmt;
use std::collections::BinaryHeap;

/// log2 of the level-0 slot width in microseconds: 1.024 ms. uTP's shortest timers (delayed
/// ACKs, pacing) are about a millisecond away, so most of them land in level 0 or 1 and cascade
/// at most once; a 29 s keepalive is about 28,000 ticks away (level 2, or 3 when it crosses a
/// 262,144-tick boundary: two or three cascades); sub-tick
/// order is kept exactly by `due`, so the width only trades cascades against `due`'s size.
pub const TICK_SHIFT: u32 = 10;

/// log2 of [`SLOTS`].
const SLOT_BITS: u32 = 6;

/// Slots per level: 64, so one `u64` bitmap per level says which are occupied and
/// `trailing_zeros` finds the first.
pub const SLOTS: usize = 1 << SLOT_BITS;

/// Levels needed for every tick: ticks have 64 - [`TICK_SHIFT`] = 54 bits, 6 per level.
pub const LEVELS: usize = (64 - TICK_SHIFT).div_ceil(SLOT_BITS) as usize;

/// End of a node list.
const NIL: u32 = u32::MAX;

/// What the wheel holds: a deadline and the connection to wake. Ordered by deadline, then handle.
pub type Entry = (Instant, ConnectionHandle);

/// One entry in a level, linked into its slot's list (or into the free list when unused).
#[derive(Clone, Copy)]
struct Node {
    entry: Entry,
    next: u32,
}

/// A slot: the head of its node list and, while that is not empty, its smallest entry.
#[derive(Clone, Copy)]
struct Slot {
    head: u32,
    min: Entry,
}

/// One level of [`SLOTS`] slots.
struct Level {
    /// Bit `i` is set when slot `i` holds entries.
    occupied: u64,
    slots: [Slot; SLOTS],
}

impl Level {
    fn new() -> Self {
        Level {
            occupied: 0,
            slots: [Slot {
                head: NIL,
                min: (Instant::ZERO, ConnectionHandle(0)),
            }; SLOTS],
        }
    }
}

/// The tick of a deadline.
fn tick_of(at: Instant) -> u64 {
    at.as_micros() >> TICK_SHIFT
}

/// A priority queue of timer entries with O(1) push and peek and O(1) amortized pop (see the
/// module documentation).
pub struct TimerWheel {
    /// The position: every entry in `levels` has a later tick; every entry in `due` this tick
    /// or an earlier one.
    base: u64,
    /// Entries at or before `base`, exactly ordered.
    due: BinaryHeap<Reverse<Entry>>,
    /// Levels 0 up to the highest one ever needed.
    levels: Vec<Level>,
    /// Bit `l` is set when level `l` holds entries.
    occupied_levels: u16,
    /// Node storage for the entries in `levels`, and unused nodes.
    nodes: Vec<Node>,
    /// Head of the list of unused nodes.
    free: u32,
    /// Entries in `levels`.
    in_levels: usize,
}

impl fmt::Debug for TimerWheel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("len", &self.len())
            .field("next", &self.peek())
            .field("base_tick", &self.base)
            .finish()
    }
}

impl TimerWheel {
    /// An empty wheel, positioned at tick 0. Allocates nothing.
    pub fn new() -> Self {
        TimerWheel {
            base: 0,
            due: BinaryHeap::new(),
            levels: Vec::new(),
            occupied_levels: 0,
            nodes: Vec::new(),
            free: NIL,
            in_levels: 0,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.due.len() + self.in_levels
    }

    /// Whether no entry is held.
    // The endpoint only peeks and pops; kept with `len` as the queue's interface (tests use it).
    #[allow(dead_code)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds an entry. Duplicates are kept (and popped) as often as they are pushed.
    pub fn push(&mut self, at: Instant, handle: ConnectionHandle) {
        let tick = tick_of(at);
        if tick <= self.base {
            self.due.push(Reverse((at, handle)));
            return;
        }
        let entry = (at, handle);
        let node = if self.free == NIL {
            let index = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("fewer than 2^32 - 1 timer entries");
            self.nodes.push(Node { entry, next: NIL });
            index
        } else {
            let index = self.free;
            let node = &mut self.nodes[index as usize];
            self.free = node.next;
            node.entry = entry;
            index
        };
        self.in_levels += 1;
        self.link(node, tick);
    }

    /// The entry with the earliest deadline (the smallest handle among equal deadlines), left
    /// in place.
    pub fn peek(&self) -> Option<Entry> {
        if let Some(&Reverse(entry)) = self.due.peek() {
            return Some(entry);
        }
        if self.occupied_levels == 0 {
            return None;
        }
        let level = &self.levels[self.occupied_levels.trailing_zeros() as usize];
        Some(level.slots[level.occupied.trailing_zeros() as usize].min)
    }

    /// Removes and returns what [`Self::peek`] returns.
    pub fn pop(&mut self) -> Option<Entry> {
        match self.due.pop() {
            Some(Reverse(entry)) => Some(entry),
            None => self.advance(),
        }
    }

    /// Links `node` (whose tick is `tick`, later than `base`) into its slot.
    fn link(&mut self, node: u32, tick: u64) {
        debug_assert!(tick > self.base);
        let highest_bit = 63 - (tick ^ self.base).leading_zeros();
        let level = (highest_bit / SLOT_BITS) as usize;
        debug_assert!(level < LEVELS);
        let index = ((tick >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1);
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Level::new);
        }
        let entry = self.nodes[node as usize].entry;
        let level_ref = &mut self.levels[level];
        let slot = &mut level_ref.slots[index];
        let bit = 1u64 << index;
        if level_ref.occupied & bit == 0 {
            level_ref.occupied |= bit;
            self.occupied_levels |= 1 << level;
            slot.min = entry;
        } else if entry < slot.min {
            slot.min = entry;
        }
        self.nodes[node as usize].next = slot.head;
        slot.head = node;
    }

    /// Moves the position to the tick of the earliest entry in the levels and empties that
    /// entry's slot: that entry is returned, the others of its tick go to `due`, the rest to
    /// lower levels. (Returning the earliest entry directly spares the common slot of one entry
    /// a trip through `due`.)
    fn advance(&mut self) -> Option<Entry> {
        if self.occupied_levels == 0 {
            return None;
        }
        let level = self.occupied_levels.trailing_zeros() as usize;
        let level_ref = &mut self.levels[level];
        let index = level_ref.occupied.trailing_zeros() as usize;
        level_ref.occupied &= !(1u64 << index);
        if level_ref.occupied == 0 {
            self.occupied_levels &= !(1 << level);
        }
        let slot = &mut level_ref.slots[index];
        let mut node = slot.head;
        slot.head = NIL;
        // The earliest entry of the slot is the earliest of the levels: nothing is left
        // before the new position.
        let earliest = slot.min;
        self.base = tick_of(earliest.0);
        let mut taken = false;
        while node != NIL {
            let Node { entry, next } = self.nodes[node as usize];
            let tick = tick_of(entry.0);
            if tick == self.base {
                if taken || entry != earliest {
                    self.due.push(Reverse(entry));
                } else {
                    taken = true;
                }
                self.nodes[node as usize].next = self.free;
                self.free = node;
                self.in_levels -= 1;
            } else {
                self.link(node, tick);
            }
            node = next;
        }
        debug_assert!(taken);
        Some(earliest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::rng::SplitMix64;
    use proptest::prelude::*;

    fn at(micros: u64) -> Instant {
        Instant::from_micros(micros)
    }

    fn h(n: u64) -> ConnectionHandle {
        ConnectionHandle(n)
    }

    /// Pops everything, checking `peek` agrees with each `pop` and `len` counts down.
    fn drain(wheel: &mut TimerWheel) -> Vec<Entry> {
        let mut out = Vec::new();
        while let Some(next) = wheel.peek() {
            let len = wheel.len();
            assert_eq!(wheel.pop(), Some(next));
            assert_eq!(wheel.len(), len - 1);
            out.push(next);
        }
        assert_eq!(wheel.pop(), None);
        assert!(wheel.is_empty());
        out
    }

    #[test]
    fn an_empty_wheel_is_small_and_holds_nothing() {
        let mut wheel = TimerWheel::new();
        assert!(wheel.is_empty());
        assert_eq!(wheel.peek(), None);
        assert_eq!(wheel.pop(), None);
        assert!(core::mem::size_of::<TimerWheel>() <= 128);
        assert_eq!(wheel.levels.capacity(), 0);
        assert_eq!(wheel.nodes.capacity(), 0);
        assert_eq!(wheel.due.capacity(), 0);
    }

    #[test]
    fn entries_come_out_in_deadline_order_then_handle_order() {
        let mut wheel = TimerWheel::new();
        // Spread over every level from sub-tick to minutes, pushed out of order.
        let deadlines = [
            29_000_000,
            1,
            1_024,
            1_023,
            5_000,
            300_000_000,
            64 << 10,
            (64 << 10) - 1,
            999,
            0,
            4_096 << 10,
            1_500,
        ];
        for (i, &d) in deadlines.iter().enumerate() {
            wheel.push(at(d), h(100 - i as u64));
            wheel.push(at(d), h(i as u64));
        }
        let mut expected: Vec<Entry> = deadlines
            .iter()
            .enumerate()
            .flat_map(|(i, &d)| [(at(d), h(100 - i as u64)), (at(d), h(i as u64))])
            .collect();
        expected.sort();
        assert_eq!(drain(&mut wheel), expected);
    }

    #[test]
    fn the_earliest_deadline_within_a_slot_is_exact() {
        let mut wheel = TimerWheel::new();
        // All in the same 1.024 ms tick, far from the position (level 2), scrambled.
        let tick_start = 500u64 << TICK_SHIFT;
        for (i, offset) in [700u64, 3, 1_023, 0, 512, 4].into_iter().enumerate() {
            wheel.push(at(tick_start + offset), h(i as u64));
        }
        assert_eq!(wheel.peek(), Some((at(tick_start), h(3))));
        let popped: Vec<u64> = drain(&mut wheel)
            .into_iter()
            .map(|(t, _)| t.as_micros() - tick_start)
            .collect();
        assert_eq!(popped, [0, 3, 4, 512, 700, 1_023]);
    }

    #[test]
    fn a_push_behind_the_position_comes_out_first() {
        let mut wheel = TimerWheel::new();
        wheel.push(at(10_000_000), h(1));
        wheel.push(at(20_000_000), h(2));
        assert_eq!(wheel.pop(), Some((at(10_000_000), h(1))));
        // Already expired relative to what was popped: still first.
        wheel.push(at(5), h(3));
        wheel.push(at(9_999_999), h(4));
        wheel.push(at(10_000_000), h(0));
        assert_eq!(wheel.peek(), Some((at(5), h(3))));
        assert_eq!(
            drain(&mut wheel),
            [
                (at(5), h(3)),
                (at(9_999_999), h(4)),
                (at(10_000_000), h(0)),
                (at(20_000_000), h(2)),
            ]
        );
    }

    #[test]
    fn peeking_moves_nothing_and_need_not_follow_time() {
        let mut wheel = TimerWheel::new();
        wheel.push(at(60_000_000), h(1));
        assert_eq!(wheel.peek(), Some((at(60_000_000), h(1))));
        assert_eq!(wheel.base, 0);
        // Earlier and earlier deadlines after a peek of a later one.
        wheel.push(at(2_000), h(2));
        assert_eq!(wheel.peek(), Some((at(2_000), h(2))));
        wheel.push(at(1_000), h(3));
        assert_eq!(wheel.peek(), Some((at(1_000), h(3))));
        assert_eq!(wheel.base, 0);
        assert_eq!(
            drain(&mut wheel),
            [(at(1_000), h(3)), (at(2_000), h(2)), (at(60_000_000), h(1))]
        );
    }

    #[test]
    fn instants_at_both_ends_of_the_range() {
        let mut wheel = TimerWheel::new();
        let extremes = [
            u64::MAX,
            0,
            u64::MAX - 1,
            1u64 << 63,
            (1u64 << 63) - 1,
            u64::MAX >> TICK_SHIFT,
            1,
            u64::MAX - 1_024,
        ];
        for (i, &d) in extremes.iter().enumerate() {
            wheel.push(at(d), h(i as u64));
        }
        assert_eq!(wheel.levels.len(), LEVELS);
        let popped: Vec<u64> = drain(&mut wheel)
            .into_iter()
            .map(|(t, _)| t.as_micros())
            .collect();
        let mut expected = extremes.to_vec();
        expected.sort_unstable();
        assert_eq!(popped, expected);
        // At the very end of time: pushes behind the position, and at it.
        wheel.push(at(u64::MAX), h(1));
        wheel.push(at(3), h(2));
        assert_eq!(drain(&mut wheel), [(at(3), h(2)), (at(u64::MAX), h(1))]);
    }

    #[test]
    fn many_entries_in_one_slot_come_out_in_order() {
        let mut wheel = TimerWheel::new();
        let mut rng = SplitMix64::new(7);
        // 200 connections sharing a handful of deadlines 29 s out, in random order.
        let mut expected = Vec::new();
        for handle in 0..200 {
            let deadline = at(29_000_000 + rng.next_u64() % 4);
            let handle = h(rng.next_u64() % 1_000 + handle * 1_000);
            wheel.push(deadline, handle);
            expected.push((deadline, handle));
        }
        expected.sort();
        assert_eq!(drain(&mut wheel), expected);
    }

    #[test]
    fn duplicate_entries_are_kept() {
        let mut wheel = TimerWheel::new();
        for _ in 0..3 {
            wheel.push(at(70_000), h(9));
        }
        wheel.push(at(70_000), h(8));
        assert_eq!(wheel.len(), 4);
        assert_eq!(
            drain(&mut wheel),
            [
                (at(70_000), h(8)),
                (at(70_000), h(9)),
                (at(70_000), h(9)),
                (at(70_000), h(9))
            ]
        );
    }

    #[test]
    fn memory_follows_the_entries_held_not_the_entries_seen() {
        let mut wheel = TimerWheel::new();
        let mut now = 0u64;
        // 100 rounds of 20 connections re-arming keepalives 29 s ahead (2,000 pushes: modest
        // enough for Miri).
        for _ in 0..100u64 {
            for c in 0..20 {
                wheel.push(at(now + 29_000_000 + c * 997), h(c));
            }
            while wheel.len() > 20 {
                let (t, _) = wheel.pop().unwrap();
                now = t.as_micros();
            }
            // Nodes are recycled: never more than the entries held at once.
            assert!(wheel.nodes.len() <= 40, "{}", wheel.nodes.len());
        }
        assert!(now > 40 * 29_000_000);
        // Deadlines 30 s ahead need levels 0 to 3 only (3 when crossing a 262,144-tick span).
        assert!(wheel.levels.len() <= 4);
    }

    #[test]
    fn levels_are_allocated_only_when_needed() {
        let mut wheel = TimerWheel::new();
        wheel.push(at(5_000), h(1));
        assert_eq!(wheel.levels.len(), 1);
        wheel.push(at(29_000_000), h(1));
        assert_eq!(wheel.levels.len(), 3);
        // Behind or at the position: no level at all.
        let mut past = TimerWheel::new();
        past.push(at(1_023), h(1));
        past.push(at(0), h(1));
        assert_eq!(past.levels.len(), 0);
        assert_eq!(past.nodes.len(), 0);
    }

    /// One step of a property-test run.
    #[derive(Debug, Clone)]
    enum Op {
        /// Push this many microseconds after (or, when `behind`, before) the last popped
        /// deadline, for this handle.
        Push {
            delta: u64,
            behind: bool,
            handle: u64,
        },
        /// Push an arbitrary instant.
        PushAnywhere {
            micros: u64,
            handle: u64,
        },
        Pop,
        Peek,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Deltas from sub-tick to hours, so every level and `due` are exercised.
        let delta = prop_oneof![
            0u64..2_048,
            0u64..200_000,
            0u64..100_000_000,
            0u64..(1u64 << 40),
        ];
        prop_oneof![
            4 => (delta, proptest::bool::weighted(0.2), 0u64..8).prop_map(
                |(delta, behind, handle)| Op::Push { delta, behind, handle }
            ),
            1 => (any::<u64>(), 0u64..8).prop_map(|(micros, handle)| Op::PushAnywhere {
                micros,
                handle
            }),
            3 => Just(Op::Pop),
            1 => Just(Op::Peek),
        ]
    }

    /// Steps per run at most (fewer under Miri, which interprets every step).
    const MAX_OPS: usize = if cfg!(miri) { 40 } else { 400 };

    proptest! {
        /// The wheel pops exactly what the binary heap it replaced pops: the same deadlines in
        /// the same order, and (since both break ties by handle) the same handles.
        #[test]
        fn pops_what_a_binary_heap_pops(ops in proptest::collection::vec(op(), 1..MAX_OPS)) {
            let mut wheel = TimerWheel::new();
            let mut oracle: BinaryHeap<Reverse<Entry>> = BinaryHeap::new();
            let mut last = 0u64;
            for op in ops {
                match op {
                    Op::Push { delta, behind, handle } => {
                        let micros = if behind {
                            last.saturating_sub(delta)
                        } else {
                            last.saturating_add(delta)
                        };
                        wheel.push(at(micros), h(handle));
                        oracle.push(Reverse((at(micros), h(handle))));
                    }
                    Op::PushAnywhere { micros, handle } => {
                        wheel.push(at(micros), h(handle));
                        oracle.push(Reverse((at(micros), h(handle))));
                    }
                    Op::Pop => {
                        let popped = wheel.pop();
                        prop_assert_eq!(popped, oracle.pop().map(|Reverse(e)| e));
                        if let Some((t, _)) = popped {
                            last = t.as_micros();
                        }
                    }
                    Op::Peek => {
                        prop_assert_eq!(wheel.peek(), oracle.peek().map(|&Reverse(e)| e));
                    }
                }
                prop_assert_eq!(wheel.len(), oracle.len());
                prop_assert_eq!(wheel.is_empty(), oracle.is_empty());
            }
            let rest: Vec<Entry> = core::iter::from_fn(|| oracle.pop().map(|Reverse(e)| e)).collect();
            prop_assert_eq!(drain(&mut wheel), rest);
        }
    }

    /// Nanoseconds per operation of the wheel and of the binary heap it replaced, in the
    /// "hold" model: `n` timers, and repeatedly the earliest is popped and re-armed a random
    /// 1 ms to 30 s after its deadline. Run with
    /// `cargo test --release --lib timer_wheel::tests::hold_benchmark -- --ignored --nocapture`.
    #[test]
    #[ignore = "a benchmark: prints timings, asserts only that both queues agree"]
    #[allow(clippy::disallowed_methods)] // a benchmark reads the clock; the wheel does not
    fn hold_benchmark() {
        use std::time::Instant as Clock;
        for n in [10_000u64, 100_000] {
            let rounds = 2_000_000u64;
            let delay = |rng: &mut SplitMix64| 1_000 + rng.next_u64() % 30_000_000;

            let mut rng = SplitMix64::new(1);
            let mut wheel = TimerWheel::new();
            let start = Clock::now();
            for c in 0..n {
                wheel.push(at(delay(&mut rng)), h(c));
            }
            let fill_wheel = start.elapsed();
            let start = Clock::now();
            let mut check_wheel = 0u64;
            for _ in 0..rounds {
                let (t, c) = wheel.pop().unwrap();
                check_wheel = check_wheel.wrapping_add(t.as_micros());
                wheel.push(t + core::time::Duration::from_micros(delay(&mut rng)), c);
            }
            let hold_wheel = start.elapsed();

            let mut rng = SplitMix64::new(1);
            let mut heap: BinaryHeap<Reverse<Entry>> = BinaryHeap::new();
            let start = Clock::now();
            for c in 0..n {
                heap.push(Reverse((at(delay(&mut rng)), h(c))));
            }
            let fill_heap = start.elapsed();
            let start = Clock::now();
            let mut check_heap = 0u64;
            for _ in 0..rounds {
                let Reverse((t, c)) = heap.pop().unwrap();
                check_heap = check_heap.wrapping_add(t.as_micros());
                heap.push(Reverse((
                    t + core::time::Duration::from_micros(delay(&mut rng)),
                    c,
                )));
            }
            let hold_heap = start.elapsed();
            assert_eq!(check_wheel, check_heap);

            let per = |d: core::time::Duration, ops: u64| d.as_nanos() as f64 / ops as f64;
            println!(
                "n = {n}: push (fill) wheel {:.1} ns, heap {:.1} ns; pop + push (hold) \
                 wheel {:.1} ns, heap {:.1} ns",
                per(fill_wheel, n),
                per(fill_heap, n),
                per(hold_wheel, rounds),
                per(hold_heap, rounds),
            );
        }
    }
}
