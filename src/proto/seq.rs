//! 16-bit wrapping sequence and acknowledgement numbers (BEP 29 `seq_nr`, `ack_nr`).
//!
//! Ordering is serial-number arithmetic (RFC 1982 style): `a` precedes `b` when `b - a` taken
//! modulo 2^16 lies in `1..0x8000`. That relation is only meaningful for numbers less than half
//! the space apart, which every window in this crate respects.

use core::fmt;
use core::ops::{Add, Sub};

/// A uTP sequence number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNr(pub u16);

impl SeqNr {
    /// `self + n` modulo 2^16.
    pub const fn add(self, n: u16) -> SeqNr {
        SeqNr(self.0.wrapping_add(n))
    }

    /// `self - n` modulo 2^16.
    pub const fn sub(self, n: u16) -> SeqNr {
        SeqNr(self.0.wrapping_sub(n))
    }

    /// The next sequence number.
    pub const fn next(self) -> SeqNr {
        self.add(1)
    }

    /// The previous sequence number.
    pub const fn prev(self) -> SeqNr {
        self.sub(1)
    }

    /// How far `self` lies after `base`, modulo 2^16 (0 when equal).
    pub const fn distance_from(self, base: SeqNr) -> u16 {
        self.0.wrapping_sub(base.0)
    }

    /// Signed distance `self - other` in `-0x8000..0x8000`.
    pub const fn diff(self, other: SeqNr) -> i16 {
        self.0.wrapping_sub(other.0) as i16
    }

    /// True when `self` comes strictly before `other` in serial order.
    pub const fn precedes(self, other: SeqNr) -> bool {
        other.diff(self) > 0
    }

    /// True when `self` comes strictly after `other` in serial order.
    pub const fn follows(self, other: SeqNr) -> bool {
        self.diff(other) > 0
    }

    /// True when `self` lies in the inclusive serial range `[lo, hi]`.
    pub const fn within(self, lo: SeqNr, hi: SeqNr) -> bool {
        self.distance_from(lo) <= hi.distance_from(lo)
    }
}

impl Add<u16> for SeqNr {
    type Output = SeqNr;
    fn add(self, rhs: u16) -> SeqNr {
        SeqNr::add(self, rhs)
    }
}

impl Sub<u16> for SeqNr {
    type Output = SeqNr;
    fn sub(self, rhs: u16) -> SeqNr {
        SeqNr::sub(self, rhs)
    }
}

impl fmt::Debug for SeqNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl fmt::Display for SeqNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordering_across_the_wrap() {
        assert!(SeqNr(0xFFFF).precedes(SeqNr(0)));
        assert!(SeqNr(0).follows(SeqNr(0xFFFF)));
        assert_eq!(SeqNr(0xFFFF).next(), SeqNr(0));
        assert_eq!(SeqNr(0).prev(), SeqNr(0xFFFF));
        assert_eq!(SeqNr(2).distance_from(SeqNr(0xFFFE)), 4);
        assert!(SeqNr(1).within(SeqNr(0xFFF0), SeqNr(3)));
        assert!(!SeqNr(4).within(SeqNr(0xFFF0), SeqNr(3)));
    }

    proptest! {
        #[test]
        fn forward_steps_are_ordered(base in any::<u16>(), step in 1u16..0x8000) {
            let a = SeqNr(base);
            let b = a + step;
            prop_assert!(a.precedes(b));
            prop_assert!(b.follows(a));
            prop_assert!(!b.precedes(a));
            prop_assert_eq!(b.distance_from(a), step);
            prop_assert_eq!(b - step, a);
            prop_assert_eq!(b.diff(a), step as i16);
        }

        #[test]
        fn within_matches_distance(lo in any::<u16>(), len in 0u16..0x8000, off in any::<u16>()) {
            let lo = SeqNr(lo);
            let hi = lo + len;
            let x = lo + off;
            prop_assert_eq!(x.within(lo, hi), off <= len);
        }

        #[test]
        fn order_is_a_strict_total_order_within_half_the_space(
            a in any::<u16>(), d in any::<u16>(),
        ) {
            // Exactly one of precedes, equal, follows; the signed difference agrees with it
            // and negates when the operands swap (0x8000 apart is the one ambiguous distance).
            let (a, b) = (SeqNr(a), SeqNr(a) + d);
            let relations = [a.precedes(b), a == b, a.follows(b)];
            prop_assert_eq!(relations.iter().filter(|&&r| r).count(), usize::from(d != 0x8000));
            prop_assert_eq!(a.precedes(b), b.diff(a) > 0);
            if d != 0x8000 {
                prop_assert_eq!(a.diff(b), -b.diff(a));
                prop_assert_eq!(a.precedes(b), b.follows(a));
            }
            prop_assert_eq!(a.add(d).sub(d), a);
            prop_assert_eq!(b.distance_from(a).wrapping_add(a.distance_from(b)), 0);
        }
    }
}
