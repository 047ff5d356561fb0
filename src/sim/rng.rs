//! The simulator's seeded generator: xoshiro256** (Blackman and Vigna, 2018), seeded through
//! SplitMix64, with the few helpers the link impairments need.
//!
//! Every random choice of a simulation comes from a [`SimRng`] made by [`SimRng::derive`] from the
//! simulation seed and a label (for a link stage: both addresses, the stage's position and how
//! often the direction was configured). Streams are therefore independent: adding a link or a
//! stage does not move the draws of any other.

use crate::proto::rng::SplitMix64;
use core::ops::{Bound, RangeBounds};
use core::time::Duration;
use std::net::SocketAddr;

/// xoshiro256** state. Not cryptographic; fast, small, and identical on every platform.
#[derive(Debug, Clone)]
pub struct SimRng {
    s: [u64; 4],
}

impl SimRng {
    /// A generator whose whole stream is decided by `seed`.
    pub fn new(seed: u64) -> Self {
        // SplitMix64 is a bijection on its state, so four consecutive outputs are never all zero,
        // the one state xoshiro cannot leave.
        let mut seeder = SplitMix64::new(seed);
        let s = [
            seeder.next_u64(),
            seeder.next_u64(),
            seeder.next_u64(),
            seeder.next_u64(),
        ];
        SimRng { s }
    }

    /// An independent stream for `labels` under the simulation `seed`.
    pub fn derive(seed: u64, labels: &[u64]) -> Self {
        let mut key = SplitMix64::new(seed).next_u64();
        for &label in labels {
            key = SplitMix64::new(key.rotate_left(23) ^ label).next_u64();
        }
        SimRng::new(key)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform float in `[0, 1)`, with 53 random bits.
    pub fn gen_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p`. `p <= 0` is always `false` and `p >= 1` always `true`; neither
    /// draws from the stream.
    pub fn gen_bool(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.gen_f64() < p
        }
    }

    /// A uniform integer in `range`, without modulo bias.
    ///
    /// # Panics
    /// When the range is empty.
    pub fn gen_range(&mut self, range: impl RangeBounds<u64>) -> u64 {
        let low = match range.start_bound() {
            Bound::Included(&x) => Some(x),
            Bound::Excluded(&x) => x.checked_add(1),
            Bound::Unbounded => Some(0),
        };
        let high = match range.end_bound() {
            Bound::Included(&x) => Some(x),
            Bound::Excluded(&x) => x.checked_sub(1),
            Bound::Unbounded => Some(u64::MAX),
        };
        let (low, high) = match (low, high) {
            (Some(low), Some(high)) if low <= high => (low, high),
            _ => panic!("SimRng::gen_range: empty range"),
        };
        match (high - low).checked_add(1) {
            Some(span) => low + self.below(span),
            None => self.next_u64(),
        }
    }

    /// A uniform duration in `[0, max]`, at microsecond resolution.
    pub fn gen_duration(&mut self, max: Duration) -> Duration {
        let max = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.gen_range(0..=max))
    }

    /// Uniform in `[0, span)`, `span > 0`: Lemire's multiply-and-reject.
    fn below(&mut self, span: u64) -> u64 {
        let mut product = u128::from(self.next_u64()) * u128::from(span);
        if (product as u64) < span {
            let threshold = span.wrapping_neg() % span;
            while (product as u64) < threshold {
                product = u128::from(self.next_u64()) * u128::from(span);
            }
        }
        (product >> 64) as u64
    }
}

/// Folds an address into labels for [`SimRng::derive`]: the family, the IP and the port.
pub(crate) fn addr_labels(addr: &SocketAddr) -> [u64; 3] {
    match addr {
        SocketAddr::V4(a) => [4, u64::from(u32::from(*a.ip())), u64::from(a.port())],
        SocketAddr::V6(a) => {
            let ip = u128::from(*a.ip());
            [6 ^ (u64::from(a.port()) << 8), (ip >> 64) as u64, ip as u64]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_labels_separate_streams() {
        let mut a = SimRng::derive(9, &[1, 2]);
        let mut b = SimRng::derive(9, &[1, 2]);
        let mut c = SimRng::derive(9, &[2, 1]);
        let xs: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..16).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn ranges_stay_inside_and_cover_their_bounds() {
        let mut rng = SimRng::new(1);
        let mut seen = [false; 7];
        for _ in 0..10_000 {
            let x = rng.gen_range(3..10);
            assert!((3..10).contains(&x));
            seen[(x - 3) as usize] = true;
            assert_eq!(rng.gen_range(5..=5), 5);
            let f = rng.gen_f64();
            assert!((0.0..1.0).contains(&f));
        }
        assert!(seen.iter().all(|&s| s), "{seen:?}");
        let _ = rng.gen_range(..);
        assert!(rng.gen_duration(Duration::from_micros(3)) <= Duration::from_micros(3));
    }

    #[test]
    #[should_panic(expected = "empty range")]
    fn empty_range_panics() {
        SimRng::new(1).gen_range(4..4);
    }

    #[test]
    fn gen_bool_matches_its_probability() {
        let mut rng = SimRng::new(2);
        let hits = (0..100_000).filter(|_| rng.gen_bool(0.25)).count();
        // Binomial(100 000, 0.25): standard deviation about 137.
        assert!((24_300..25_700).contains(&hits), "{hits}");
        assert!(!rng.gen_bool(0.0));
        assert!(rng.gen_bool(1.0));
    }
}
