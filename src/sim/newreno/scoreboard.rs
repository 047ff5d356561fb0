//! The SACK scoreboard of RFC 6675 section 3 (its `Update()` and `IsLost()`), kept per segment.
//!
//! The model's segments all start at a multiple of the MSS, so a segment is named by its index
//! (offset / MSS) and is either SACKed as a whole or not at all; a SACK block's edges are those of
//! the segments it covers. The board spans the segments from the first unacknowledged one up to
//! the highest one SACKed; everything below it is cumulatively acknowledged, everything above it
//! is not SACKed.
//!
//! Invariant: `count` is the number of `true` entries of `sacked`, and the last entry, if any, is
//! `true`.

use super::window::DUP_THRESH;
use std::collections::VecDeque;

/// Which outstanding segments the receiver has SACKed.
#[derive(Debug, Clone, Default)]
pub(super) struct Scoreboard {
    /// Index of the first unacknowledged segment: entry 0 of `sacked`.
    base: u64,
    /// SACKed flags of segments `base..base + sacked.len()`.
    sacked: VecDeque<bool>,
    /// SACKed segments on the board.
    count: u64,
}

impl Scoreboard {
    /// Forgets the segments below `base`, now cumulatively acknowledged.
    pub(super) fn advance(&mut self, base: u64) {
        while self.base < base {
            match self.sacked.pop_front() {
                Some(true) => self.count -= 1,
                Some(false) => {}
                None => {
                    self.base = base;
                    break;
                }
            }
            self.base += 1;
        }
    }

    /// Marks segments `first..end` SACKed (those below the base are ignored); returns how many
    /// were not SACKed before.
    pub(super) fn mark(&mut self, first: u64, end: u64) -> u64 {
        let first = first.max(self.base);
        let mut fresh = 0;
        for index in first..end {
            let at = (index - self.base) as usize;
            if at >= self.sacked.len() {
                self.sacked.resize(at + 1, false);
            }
            if !self.sacked[at] {
                self.sacked[at] = true;
                self.count += 1;
                fresh += 1;
            }
        }
        fresh
    }

    /// Whether segment `index` has been SACKed (false for anything cumulatively acknowledged:
    /// that is no longer the board's business).
    pub(super) fn is_sacked(&self, index: u64) -> bool {
        index >= self.base
            && self
                .sacked
                .get((index - self.base) as usize)
                .is_some_and(|&s| s)
    }

    /// SACKed segments on the board.
    pub(super) fn count(&self) -> u64 {
        self.count
    }

    /// SACKed segments among `first..end`.
    pub(super) fn count_between(&self, first: u64, end: u64) -> u64 {
        let from = first.max(self.base);
        if from >= end {
            return 0;
        }
        self.sacked
            .iter()
            .skip((from - self.base) as usize)
            .take((end - from) as usize)
            .filter(|&&s| s)
            .count() as u64
    }

    /// RFC 6675's `IsLost()` for every segment at once: segments below the returned index are
    /// lost. A segment is lost once `DupThresh` segments above it are SACKed; with whole segments
    /// of one MSS this is also "more than (DupThresh - 1) * SMSS bytes SACKed above it", the
    /// RFC's second test, and the index returned is that of the `DupThresh`-th highest SACKed
    /// segment (the base when fewer are SACKed).
    pub(super) fn lost_below(&self) -> u64 {
        let mut above = 0;
        for (at, &sacked) in self.sacked.iter().enumerate().rev() {
            if sacked {
                above += 1;
                if above == u64::from(DUP_THRESH) {
                    return self.base + at as u64;
                }
            }
        }
        self.base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_count_once_and_fall_off_with_the_cumulative_ack() {
        let mut b = Scoreboard::default();
        assert_eq!(b.mark(3, 5), 2);
        assert_eq!(b.mark(4, 6), 1, "segment 4 was SACKed already");
        assert!(!b.is_sacked(2) && b.is_sacked(3) && b.is_sacked(5) && !b.is_sacked(6));
        assert_eq!((b.count(), b.count_between(0, 5)), (3, 2));
        b.advance(4);
        assert_eq!(b.count(), 2);
        assert!(!b.is_sacked(3), "below the base");
        assert_eq!(
            b.mark(0, 4),
            0,
            "cumulatively acknowledged segments are not marked"
        );
        b.advance(10);
        assert_eq!(b.count(), 0);
        assert_eq!(b.mark(12, 13), 1);
        assert!(b.is_sacked(12));
    }

    #[test]
    fn a_segment_is_lost_under_dup_thresh_sacked_segments() {
        let mut b = Scoreboard::default();
        b.mark(2, 3);
        b.mark(5, 6);
        assert_eq!(b.lost_below(), 0, "two SACKed segments lose nothing");
        b.mark(9, 10);
        // Segments 0 and 1 have three SACKed segments above them; 3 and 4 only two.
        assert_eq!(b.lost_below(), 2);
        b.mark(10, 12);
        assert_eq!(
            b.lost_below(),
            9,
            "9, 10 and 11 are above everything below 9"
        );
    }
}
