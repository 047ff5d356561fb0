//! A small deterministic generator, seeded by the caller.
//!
//! The engine has no entropy of its own: the seed given to [`crate::proto::Endpoint::new`] (or
//! [`crate::proto::Endpoint::reseed`]) decides every connection id and initial sequence number,
//! which keeps simulator runs replayable. SplitMix64 (Steele, Lea, Flood 2014) is enough: the
//! values need to be unpredictable only to the extent the seed is.

/// SplitMix64 state.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 16 random bits.
    pub fn next_u16(&mut self) -> u16 {
        (self.next_u64() >> 48) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_values_spread() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<u16> = (0..64).map(|_| a.next_u16()).collect();
        let ys: Vec<u16> = (0..64).map(|_| b.next_u16()).collect();
        assert_eq!(xs, ys);
        let distinct: std::collections::BTreeSet<_> = xs.iter().collect();
        assert!(distinct.len() > 60, "poor spread: {distinct:?}");
    }
}
