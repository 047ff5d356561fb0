//! One-way delay measurement for LEDBAT: base delay history and current delay filter
//! (RFC 6817 section 2.4.2, `update_base_delay`, `update_current_delay` and `FILTER`), with the
//! parameters libutp uses.
//!
//! A sample is the low 32 bits of the receiver's microsecond clock minus the sender's timestamp
//! (BEP 29 `timestamp_difference_microseconds`). The two clocks are unrelated, so a sample is
//! meaningful only relative to other samples of the same direction, and the values may wrap
//! around 2^32 at any point. Every comparison here is therefore done in wrapping order: `a`
//! is below `b` when `b - a` modulo 2^32, read as a signed number, is positive.

use core::time::Duration;

use crate::proto::time::Instant;

/// Number of one-minute minima kept for the base delay: 13, as libutp. RFC 6817 section 2.5
/// recommends BASE_HISTORY = 10; a longer history only makes the base more stable.
pub const BASE_HISTORY: usize = 13;

/// Span of one base-delay bucket: one minute (RFC 6817 section 2.4.2, as libutp).
pub const BASE_BUCKET_SPAN: Duration = Duration::from_secs(60);

/// Number of recent samples the current-delay filter takes the minimum of: 3, as libutp
/// (RFC 6817 section 2.4.2 leaves FILTER and CURRENT_FILTER to the implementation).
pub const CURRENT_FILTER: usize = 3;

/// The sample value that stands for "no sample": a peer that has not heard from us yet sends a
/// timestamp difference of 0 (libutp).
pub const NO_SAMPLE: u32 = 0;

/// `a` is below `b` in wrapping (serial number) order.
pub fn wrapping_lt(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) > 0
}

/// The lower of two samples in wrapping order.
pub fn wrapping_min(a: u32, b: u32) -> u32 {
    if wrapping_lt(b, a) {
        b
    } else {
        a
    }
}

/// How far `sample` lies above `base` in wrapping order, in microseconds; 0 when it lies below.
fn above(sample: u32, base: u32) -> u64 {
    u64::try_from(sample.wrapping_sub(base) as i32).unwrap_or(0)
}

/// Delay samples of one direction: the base delay (minimum over the last [`BASE_HISTORY`]
/// minutes) and the filtered current delay above it.
#[derive(Debug, Clone, Default)]
pub struct DelayHistory {
    /// Per-minute minima; `buckets[current]` is the minute being filled. `None`: no sample in
    /// that minute.
    buckets: [Option<u32>; BASE_HISTORY],
    current: usize,
    /// When the current bucket's minute began.
    bucket_start: Option<Instant>,
    /// Minimum over `buckets`, kept up to date.
    base: Option<u32>,
    /// The last [`CURRENT_FILTER`] raw samples, as a ring.
    recent: [Option<u32>; CURRENT_FILTER],
    recent_next: usize,
}

impl DelayHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one raw sample taken at `now`. [`NO_SAMPLE`] is ignored. A sample below the base
    /// (in wrapping order) becomes the new base at once.
    pub fn add_sample(&mut self, now: Instant, sample: u32) {
        if sample == NO_SAMPLE {
            return;
        }
        self.roll_buckets(now);
        let slot = &mut self.buckets[self.current];
        *slot = Some(slot.map_or(sample, |m| wrapping_min(m, sample)));
        self.base = Some(self.base.map_or(sample, |b| wrapping_min(b, sample)));
        self.recent[self.recent_next] = Some(sample);
        self.recent_next = (self.recent_next + 1) % CURRENT_FILTER;
    }

    /// Opens a fresh bucket for every whole minute since the current one began; buckets older
    /// than [`BASE_HISTORY`] minutes are forgotten, so the base can rise again after a route
    /// change (RFC 6817 section 2.4.2).
    fn roll_buckets(&mut self, now: Instant) {
        let Some(start) = self.bucket_start else {
            self.bucket_start = Some(now);
            return;
        };
        let minutes = now.saturating_duration_since(start).as_secs() / BASE_BUCKET_SPAN.as_secs();
        if minutes == 0 {
            return;
        }
        let cleared = usize::try_from(minutes).map_or(BASE_HISTORY, |m| m.min(BASE_HISTORY));
        for _ in 0..cleared {
            self.current = (self.current + 1) % BASE_HISTORY;
            self.buckets[self.current] = None;
        }
        self.bucket_start =
            Some(start + Duration::from_secs(minutes.saturating_mul(BASE_BUCKET_SPAN.as_secs())));
        self.base = self.buckets.iter().flatten().copied().reduce(wrapping_min);
    }

    /// The base delay: the lowest sample (in wrapping order) of the last [`BASE_HISTORY`]
    /// one-minute buckets, or `None` before the first sample.
    pub fn base(&self) -> Option<u32> {
        self.base
    }

    /// The current queuing delay: the minimum of the last [`CURRENT_FILTER`] samples above the
    /// base (libutp's filter; a minimum over a short window is one of the filters RFC 6817
    /// allows). `None` before the first sample.
    pub fn current_delay(&self) -> Option<Duration> {
        let base = self.base?;
        self.recent
            .iter()
            .flatten()
            .map(|&s| above(s, base))
            .min()
            .map(Duration::from_micros)
    }

    /// Raises the base and every bucket by `by` microseconds (wrapping). Used to compensate for
    /// clock skew: see [`super::Ledbat::on_peer_delay_sample`].
    pub fn shift_base(&mut self, by: u32) {
        for b in self.buckets.iter_mut().flatten() {
            *b = b.wrapping_add(by);
        }
        if let Some(b) = &mut self.base {
            *b = b.wrapping_add(by);
        }
    }

    /// Forgets every sample, e.g. after a route change or a clock jump.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Instant {
        Instant::from_micros(s * 1_000_000)
    }

    fn us(v: u64) -> Option<Duration> {
        Some(Duration::from_micros(v))
    }

    #[test]
    fn wrapping_order() {
        assert!(wrapping_lt(1, 2));
        assert!(!wrapping_lt(2, 1));
        assert!(!wrapping_lt(7, 7));
        assert!(wrapping_lt(u32::MAX, 3));
        assert_eq!(wrapping_min(u32::MAX - 5, 10), u32::MAX - 5);
        assert_eq!(wrapping_min(10, u32::MAX - 5), u32::MAX - 5);
    }

    #[test]
    fn empty_history_knows_nothing_and_zero_is_not_a_sample() {
        let mut h = DelayHistory::new();
        assert_eq!(h.base(), None);
        assert_eq!(h.current_delay(), None);
        h.add_sample(secs(1), NO_SAMPLE);
        assert_eq!(h.base(), None);
        assert_eq!(h.current_delay(), None);
    }

    #[test]
    fn current_delay_is_the_minimum_of_the_last_three_above_the_base() {
        let mut h = DelayHistory::new();
        h.add_sample(secs(0), 1_000);
        assert_eq!(h.current_delay(), us(0));
        for (extra, expected) in [
            (30_000, 0),
            (10_000, 0),
            (20_000, 10_000),
            (50_000, 10_000),
            (60_000, 20_000),
        ] {
            h.add_sample(secs(1), 1_000 + extra);
            assert_eq!(h.current_delay(), us(expected), "after +{extra}");
        }
        assert_eq!(h.base(), Some(1_000));
    }

    #[test]
    fn a_lower_sample_becomes_the_base_at_once() {
        let mut h = DelayHistory::new();
        h.add_sample(secs(0), 5_000);
        h.add_sample(secs(1), 8_000);
        h.add_sample(secs(2), 4_000);
        assert_eq!(h.base(), Some(4_000));
        assert_eq!(h.current_delay(), us(0));
    }

    #[test]
    fn base_survives_the_wrap_of_the_sample_values() {
        let mut h = DelayHistory::new();
        let base = u32::MAX - 1_000;
        h.add_sample(secs(0), base);
        for (i, s) in [u32::MAX, 499, 1_499, 20_000].into_iter().enumerate() {
            h.add_sample(secs(1 + i as u64), s);
            assert_eq!(h.base(), Some(base));
        }
        // Last three: u32::MAX is 1000 above base, 499 is 1500, 1499 is 2500, 20000 is 21001.
        assert_eq!(h.current_delay(), us(1_500));
        h.add_sample(secs(10), u32::MAX - 3_000);
        assert_eq!(h.base(), Some(u32::MAX - 3_000));
        assert_eq!(h.current_delay(), us(0));
        h.add_sample(secs(11), 2);
        h.add_sample(secs(12), 3);
        h.add_sample(secs(13), 4);
        assert_eq!(h.current_delay(), us(3_003));
    }

    #[test]
    fn base_expires_after_the_bucket_history_rolls() {
        let mut h = DelayHistory::new();
        h.add_sample(secs(0), 1_000);
        let mut t = 10;
        while t < 13 * 60 {
            h.add_sample(secs(t), 5_000);
            assert_eq!(h.base(), Some(1_000), "at {t} s");
            t += 10;
        }
        h.add_sample(secs(13 * 60), 5_000);
        assert_eq!(h.base(), Some(5_000));
        assert_eq!(h.current_delay(), us(0));
    }

    #[test]
    fn a_long_silence_forgets_every_bucket() {
        let mut h = DelayHistory::new();
        h.add_sample(secs(0), 1_000);
        h.add_sample(secs(3600), 9_000);
        assert_eq!(h.base(), Some(9_000));
    }

    #[test]
    fn shift_base_moves_the_base_and_its_history() {
        let mut h = DelayHistory::new();
        h.add_sample(secs(0), 1_000);
        for _ in 0..CURRENT_FILTER {
            h.add_sample(secs(70), 3_000);
        }
        h.shift_base(500);
        assert_eq!(h.base(), Some(1_500));
        assert_eq!(h.current_delay(), us(1_500));
        // The shifted older bucket still holds the minimum after the next roll.
        h.add_sample(secs(130), 3_000);
        assert_eq!(h.base(), Some(1_500));
        // A sample below the shifted base becomes the base.
        h.add_sample(secs(131), 1_200);
        assert_eq!(h.base(), Some(1_200));
        h.shift_base(u32::MAX);
        assert_eq!(h.base(), Some(1_199));
    }

    #[test]
    fn clear_forgets_everything() {
        let mut h = DelayHistory::new();
        h.add_sample(secs(0), 1_000);
        h.clear();
        assert_eq!(h.base(), None);
        assert_eq!(h.current_delay(), None);
        h.add_sample(secs(1), 7_000);
        assert_eq!(h.base(), Some(7_000));
    }

    proptest! {
        #[test]
        fn filter_is_min_of_last_three_minus_min_of_all(
            offset in any::<u32>(),
            delays in proptest::collection::vec(0u32..10_000_000, 1..40),
        ) {
            let mut h = DelayHistory::new();
            let mut fed = Vec::new();
            for (i, d) in delays.iter().enumerate() {
                let sample = offset.wrapping_add(*d);
                if sample == NO_SAMPLE {
                    continue;
                }
                h.add_sample(Instant::from_micros(i as u64 * 1_000_000), sample);
                fed.push(*d);
            }
            prop_assume!(!fed.is_empty());
            let base = *fed.iter().min().unwrap();
            prop_assert_eq!(h.base(), Some(offset.wrapping_add(base)));
            let last = fed.iter().rev().take(CURRENT_FILTER).min().unwrap();
            prop_assert_eq!(h.current_delay(), us(u64::from(last - base)));
        }
    }
}
