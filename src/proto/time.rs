//! Monotonic time as the engine sees it: an [`Instant`] in microseconds, handed in by the caller.
//!
//! The engine never reads a clock (see `clippy.toml`). Durations are `core::time::Duration`.
//! The wire carries only the low 32 bits of a microsecond clock (BEP 29, "timestamp_microseconds"),
//! so [`WireTime`] does wrapping arithmetic on those 32 bits.

use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point on the caller's monotonic clock, in microseconds since an arbitrary origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the caller's clock.
    pub const ZERO: Instant = Instant(0);

    /// Builds an instant from microseconds since the caller's origin.
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    /// Microseconds since the caller's origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// The low 32 bits of the clock, as carried in the packet header.
    pub const fn wire(self) -> WireTime {
        WireTime(self.0 as u32)
    }
}

fn micros_of(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(micros_of(rhs)))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_sub(micros_of(rhs)))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an `rhs` later than `self` gives zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

/// A 32-bit wrapping microsecond timestamp as carried on the wire (BEP 29).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct WireTime(pub u32);

impl WireTime {
    /// `self - earlier` modulo 2^32: the one-way delay sample of BEP 29 when `self` is our receive
    /// time and `earlier` the sender's timestamp. Correct across the 32-bit wrap.
    pub const fn wrapping_since(self, earlier: WireTime) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn instant_arithmetic_saturates() {
        let t = Instant::from_micros(10);
        assert_eq!(t - Duration::from_micros(20), Instant::ZERO);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(t + Duration::from_millis(1), Instant::from_micros(1010));
        assert_eq!(
            Instant::from_micros(u64::MAX) + Duration::from_secs(1),
            Instant::from_micros(u64::MAX)
        );
    }

    proptest! {
        #[test]
        fn wire_difference_survives_the_wrap(start in any::<u64>(), delay in 0u32..u32::MAX) {
            let sent = Instant::from_micros(start);
            let received = Instant::from_micros(start.wrapping_add(u64::from(delay)));
            prop_assume!(received.as_micros() >= sent.as_micros());
            prop_assert_eq!(received.wire().wrapping_since(sent.wire()), delay);
        }

        #[test]
        fn wire_difference_is_the_true_difference_modulo_2_pow_32(
            start in any::<u64>(), elapsed in any::<u64>(),
        ) {
            // However many times the 32-bit wire clock wrapped in between, the wrapping
            // difference is the elapsed time modulo 2^32 (what BEP 29's delay samples rely on).
            let sent = Instant::from_micros(start);
            let received = Instant::from_micros(start.saturating_add(elapsed));
            let true_elapsed = received.as_micros() - sent.as_micros();
            prop_assert_eq!(
                received.wire().wrapping_since(sent.wire()),
                true_elapsed as u32
            );
            prop_assert_eq!(received - sent, Duration::from_micros(true_elapsed));
            prop_assert_eq!(sent - received, Duration::ZERO);
        }

        #[test]
        fn instant_plus_then_minus_a_duration_round_trips_unless_it_saturates(
            start in any::<u64>(), d in any::<u64>(),
        ) {
            let t = Instant::from_micros(start);
            let d = Duration::from_micros(d);
            match start.checked_add(d.as_micros() as u64) {
                Some(end) => {
                    prop_assert_eq!(t + d, Instant::from_micros(end));
                    prop_assert_eq!((t + d) - d, t);
                    prop_assert_eq!((t + d) - t, d);
                }
                None => prop_assert_eq!(t + d, Instant::from_micros(u64::MAX)),
            }
        }
    }
}
