//! Datagrams in flight: a time-ordered heap of events and a pool of reusable buffers.
//!
//! Events are ordered by (time, sequence number); the sequence number is a counter over all
//! events ever scheduled, so events due at the same instant run in the order they were
//! scheduled. Neither the heap nor the pool gives memory back, so once a simulation has warmed
//! up, moving a datagram allocates nothing.

use crate::proto::time::Instant;
use core::cmp::Ordering;
use std::collections::BinaryHeap;

/// Where a datagram goes when its event comes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Resume the link's impairment chain at this stage (one that needs its arrival time).
    Stage(usize),
    /// Hand it to the destination node.
    Deliver,
}

/// One scheduled datagram.
#[derive(Debug)]
pub(super) struct Flight {
    pub(super) at: Instant,
    seq: u64,
    /// Index of the link it travels on.
    pub(super) link: usize,
    pub(super) next: Next,
    pub(super) data: Vec<u8>,
}

impl PartialEq for Flight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Flight {}

impl PartialOrd for Flight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Flight {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The in-flight datagrams of a simulation and the spare buffers.
#[derive(Debug, Default)]
pub(super) struct Flights {
    heap: BinaryHeap<Flight>,
    pool: Vec<Vec<u8>>,
    next_seq: u64,
    /// Buffers ever allocated: stops growing once the pool covers the peak in flight.
    buffers_created: usize,
}

impl Flights {
    /// A buffer holding a copy of `data`, from the pool when it has one.
    pub(super) fn buffer(&mut self, data: &[u8]) -> Vec<u8> {
        let mut buf = match self.pool.pop() {
            Some(buf) => buf,
            None => {
                self.buffers_created += 1;
                Vec::with_capacity(data.len().max(MIN_CAPACITY))
            }
        };
        buf.clear();
        buf.extend_from_slice(data);
        buf
    }

    /// Returns a buffer to the pool.
    pub(super) fn recycle(&mut self, buf: Vec<u8>) {
        self.pool.push(buf);
    }

    /// Schedules `data` for `at`.
    pub(super) fn push(&mut self, at: Instant, link: usize, next: Next, data: Vec<u8>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Flight {
            at,
            seq,
            link,
            next,
            data,
        });
    }

    /// When the earliest event is due.
    pub(super) fn next_time(&self) -> Option<Instant> {
        self.heap.peek().map(|f| f.at)
    }

    /// Takes the earliest event.
    pub(super) fn pop(&mut self) -> Option<Flight> {
        self.heap.pop()
    }

    /// Events scheduled.
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Buffers allocated so far.
    pub(super) fn buffers_created(&self) -> usize {
        self.buffers_created
    }
}

/// Smallest capacity of a new buffer: a typical Ethernet-sized datagram, so buffers rarely grow.
const MIN_CAPACITY: usize = 1500;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_in_scheduling_order() {
        let mut f = Flights::default();
        let t = Instant::from_micros;
        f.push(t(5), 0, Next::Deliver, vec![1]);
        f.push(t(3), 0, Next::Deliver, vec![2]);
        f.push(t(5), 0, Next::Deliver, vec![3]);
        f.push(t(3), 0, Next::Stage(1), vec![4]);
        let order: Vec<u8> = core::iter::from_fn(|| f.pop())
            .map(|fl| fl.data[0])
            .collect();
        assert_eq!(order, [2, 4, 1, 3]);
    }

    #[test]
    fn recycled_buffers_are_reused() {
        let mut f = Flights::default();
        let a = f.buffer(b"hello");
        f.recycle(a);
        let b = f.buffer(b"hi");
        assert_eq!(b, b"hi");
        assert_eq!(f.buffers_created(), 1);
    }
}
