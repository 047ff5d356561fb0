//! The model's receiver: reassembles segments into an in-order byte count and acknowledges every
//! data datagram at once with the next byte it expects and, when SACK is on, SACK blocks.
//!
//! RFC 5681 section 4.2 allows delaying every other ACK but requires an immediate ACK for
//! out-of-order data; acknowledging every segment keeps the model free of a delayed-ACK timer and
//! is what Linux does in its quick-ACK mode. The receive window is unbounded (every out-of-order
//! range is kept), so the sender is only ever limited by its congestion window.
//!
//! SACK blocks follow RFC 2018 section 4: the first block is the range holding the segment that
//! triggered the ACK (unless it advanced the cumulative ACK), then the most recently reported
//! ranges not yet covered, up to [`MAX_SACK_BLOCKS`]. Like a TCP receiver, this one reports only
//! the few latest ranges rather than its whole out-of-order map: the sender's scoreboard is built
//! from what successive ACKs repeat. The receiver never reneges (RFC 2018 section 8): a range it
//! reported stays held until the cumulative ACK covers it.

use super::wire::{self, SackBlocks, Segment, MAX_SACK_BLOCKS};
use crate::proto::endpoint::Transmit;
use crate::proto::time::Instant;
use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

/// Receiving end of a NewReno flow.
#[derive(Debug, Clone, Default)]
pub struct RenoReceiver {
    /// Next in-order byte expected.
    next: u64,
    /// Out-of-order ranges above `next`: start -> end (exclusive), disjoint and not touching.
    holes_above: BTreeMap<u64, u64>,
    /// Whether ACKs carry SACK blocks.
    sack: bool,
    /// Starts of the ranges last reported, most recent first (at most [`MAX_SACK_BLOCKS`]).
    reported: Vec<u64>,
    /// ACKs owed, in order.
    acks: VecDeque<(SocketAddr, u64, SackBlocks)>,
    /// Data datagrams received (duplicates included).
    segments: u64,
    /// Width of a bin of [`RenoReceiver::bins`]; `None` keeps no time series.
    bin: Option<Duration>,
    bins: Vec<u64>,
}

impl RenoReceiver {
    /// A receiver expecting byte 0 first.
    pub fn new() -> Self {
        RenoReceiver::default()
    }

    /// Also records the bytes delivered in order per `bin` of time since zero (see
    /// [`RenoReceiver::bins`]).
    ///
    /// # Panics
    /// When `bin` is zero.
    pub fn with_bins(mut self, bin: Duration) -> Self {
        assert!(!bin.is_zero(), "a time bin must not be empty");
        self.bin = Some(bin);
        self
    }

    /// Also reports SACK blocks in every ACK (RFC 2018), for a sender with SACK on.
    pub fn with_sack(mut self) -> Self {
        self.sack = true;
        self
    }

    /// Bytes delivered in order so far.
    pub fn delivered(&self) -> u64 {
        self.next
    }

    /// Data datagrams received, duplicates included.
    pub fn segments(&self) -> u64 {
        self.segments
    }

    /// Bytes delivered in order during each bin (bin `i` covers `[i * bin, (i + 1) * bin)`), up
    /// to the last bin with a delivery; empty without [`RenoReceiver::with_bins`].
    pub fn bins(&self) -> &[u64] {
        &self.bins
    }

    fn on_data(&mut self, now: Instant, from: SocketAddr, offset: u64, len: usize) {
        self.segments += 1;
        let end = offset + len as u64;
        let before = self.next;
        if offset <= self.next {
            self.next = self.next.max(end);
            // Pull in every stored range the new data reaches.
            while let Some((&start, &stop)) = self.holes_above.first_key_value() {
                if start > self.next {
                    break;
                }
                self.holes_above.pop_first();
                self.next = self.next.max(stop);
            }
        } else if len > 0 {
            self.store(offset, end);
        }
        if self.next > before {
            self.record(now, self.next - before);
        }
        let sack = if self.sack {
            self.sack_blocks((offset > self.next).then_some(offset))
        } else {
            SackBlocks::default()
        };
        self.acks.push_back((from, self.next, sack));
    }

    /// The stored range holding byte `at`, if any.
    fn range_holding(&self, at: u64) -> Option<(u64, u64)> {
        let (&start, &end) = self.holes_above.range(..=at).next_back()?;
        (end > at).then_some((start, end))
    }

    /// The SACK blocks of the ACK for data that arrived at `arrived` (`None` when it was not
    /// held out of order), per RFC 2018 section 4; remembers what they report.
    fn sack_blocks(&mut self, arrived: Option<u64>) -> SackBlocks {
        let mut ranges: Vec<(u64, u64)> = Vec::with_capacity(MAX_SACK_BLOCKS + 1);
        let candidates = arrived.into_iter().chain(self.reported.iter().copied());
        for at in candidates {
            // A range reported before may have merged with newer data or been delivered.
            if let Some(range) = self.range_holding(at) {
                if !ranges.contains(&range) {
                    ranges.push(range);
                }
            }
        }
        ranges.truncate(MAX_SACK_BLOCKS);
        self.reported = ranges.iter().map(|&(start, _)| start).collect();
        let mut sack = SackBlocks::default();
        for (start, end) in ranges {
            sack.push(start, end);
        }
        sack
    }

    /// Keeps `[start, end)`, above `next`, merged with the ranges it overlaps or touches.
    fn store(&mut self, mut start: u64, mut end: u64) {
        if let Some((&s, &e)) = self.holes_above.range(..=start).next_back() {
            if e >= start {
                start = s;
                end = end.max(e);
                self.holes_above.remove(&s);
            }
        }
        while let Some((&s, &e)) = self.holes_above.range(start..).next() {
            if s > end {
                break;
            }
            end = end.max(e);
            self.holes_above.remove(&s);
        }
        self.holes_above.insert(start, end);
    }

    fn record(&mut self, now: Instant, bytes: u64) {
        let Some(bin) = self.bin else {
            return;
        };
        let index = (now.as_micros() as u128 / bin.as_micros()) as usize;
        if self.bins.len() <= index {
            self.bins.resize(index + 1, 0);
        }
        self.bins[index] += bytes;
    }

    /// A datagram arrived; anything but model data is ignored.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if let Some(Segment::Data { offset, len }) = wire::decode(data) {
            self.on_data(now, from, offset, len);
        }
    }

    /// The next ACK owed, written into `buf`.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let (destination, next, sack) = self.acks.pop_front()?;
        Some(Transmit {
            destination,
            len: wire::write_ack(buf, next, &sack),
            dont_fragment: false,
            connection: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "10.0.0.1:1".parse().unwrap()
    }

    fn deliver(r: &mut RenoReceiver, ms: u64, offset: u64, len: usize) -> u64 {
        deliver_sack(r, ms, offset, len).0
    }

    fn deliver_sack(
        r: &mut RenoReceiver,
        ms: u64,
        offset: u64,
        len: usize,
    ) -> (u64, Vec<(u64, u64)>) {
        let mut buf = [0u8; 256];
        let n = wire::write_data(&mut buf, offset, len);
        r.handle_datagram(Instant::from_micros(ms * 1000), peer(), &buf[..n]);
        let ack = r
            .poll_transmit(&mut buf)
            .expect("every segment is acknowledged");
        assert!(r.poll_transmit(&mut buf).is_none());
        match wire::decode(&buf[..ack.len]) {
            Some(Segment::Ack { next, sack }) => (next, sack.as_slice().to_vec()),
            other => panic!("not an ACK: {other:?}"),
        }
    }

    #[test]
    fn out_of_order_segments_are_held_until_the_gap_fills() {
        let mut r = RenoReceiver::new().with_bins(Duration::from_millis(100));
        assert_eq!(deliver(&mut r, 0, 0, 10), 10);
        assert_eq!(deliver(&mut r, 1, 20, 10), 10, "duplicate ACK for a hole");
        assert_eq!(deliver(&mut r, 2, 40, 10), 10);
        assert_eq!(deliver(&mut r, 3, 30, 10), 10, "touching ranges merge");
        assert_eq!(
            deliver(&mut r, 150, 10, 10),
            50,
            "the gap fills: all of it is delivered"
        );
        assert_eq!(
            deliver(&mut r, 151, 0, 10),
            50,
            "an old duplicate changes nothing"
        );
        assert_eq!(r.delivered(), 50);
        assert_eq!(r.segments(), 6);
        assert_eq!(r.bins(), [10, 40]);
    }

    #[test]
    fn overlapping_ranges_merge() {
        let mut r = RenoReceiver::new();
        deliver(&mut r, 0, 100, 50);
        deliver(&mut r, 0, 120, 60);
        deliver(&mut r, 0, 90, 5);
        deliver(&mut r, 0, 200, 10);
        assert_eq!(deliver(&mut r, 0, 0, 90), 95);
        assert_eq!(deliver(&mut r, 0, 95, 5), 180);
        assert_eq!(deliver(&mut r, 0, 180, 20), 210);
    }

    #[test]
    fn without_sack_acks_carry_no_blocks() {
        let mut r = RenoReceiver::new();
        deliver(&mut r, 0, 0, 10);
        assert_eq!(deliver_sack(&mut r, 0, 20, 10), (10, vec![]));
    }

    #[test]
    fn sack_blocks_lead_with_the_newest_range_and_repeat_recent_ones() {
        let mut r = RenoReceiver::new().with_sack();
        assert_eq!(deliver_sack(&mut r, 0, 0, 10), (10, vec![]));
        assert_eq!(deliver_sack(&mut r, 0, 20, 10), (10, vec![(20, 30)]));
        assert_eq!(
            deliver_sack(&mut r, 0, 40, 10),
            (10, vec![(40, 50), (20, 30)])
        );
        assert_eq!(
            deliver_sack(&mut r, 0, 60, 10),
            (10, vec![(60, 70), (40, 50), (20, 30)])
        );
        // A fourth range pushes the oldest out of the ACK (but not out of the receiver).
        assert_eq!(
            deliver_sack(&mut r, 0, 80, 10),
            (10, vec![(80, 90), (60, 70), (40, 50)])
        );
        // Growing a range moves it to the front, with its new edges.
        assert_eq!(
            deliver_sack(&mut r, 0, 30, 10),
            (10, vec![(20, 50), (80, 90), (60, 70)])
        );
        // Filling the first hole delivers [10, 50): no block for the arriving data, and the
        // delivered range drops out of the report.
        assert_eq!(
            deliver_sack(&mut r, 0, 10, 10),
            (50, vec![(80, 90), (60, 70)])
        );
        assert_eq!(deliver_sack(&mut r, 0, 50, 10), (70, vec![(80, 90)]));
        assert_eq!(deliver_sack(&mut r, 0, 70, 10), (90, vec![]));
    }
}
