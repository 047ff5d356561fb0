//! Round-trip time estimation and retransmission timeout, RFC 6298 sections 2 and 5.
//!
//! Smoothing follows RFC 6298 section 2.3 (alpha 1/8, beta 1/4) in whole microseconds; libutp
//! does the same in milliseconds. The timeout is clamped to a configurable floor and ceiling and
//! doubled on every backoff (section 5.5) until the ceiling.

use core::time::Duration;

/// Clock granularity G of RFC 6298 section 2: the smallest variance term added to SRTT. Our
/// clock counts microseconds, but timers are served at millisecond resolution at best, so 1 ms.
pub const GRANULARITY: Duration = Duration::from_millis(1);

/// SRTT and RTTVAR of RFC 6298, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Smoothed {
    srtt: u64,
    rttvar: u64,
}

/// RTT estimator and retransmission timer value for one connection (RFC 6298).
///
/// Feed it only samples from packets that were sent exactly once (Karn's rule, RFC 6298
/// section 3): a retransmitted packet's ACK cannot tell which transmission it answers. Applying
/// that rule is the caller's job; the estimator trusts every sample it is given.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    initial_rto: Duration,
    min_rto: Duration,
    max_rto: Duration,
    smoothed: Option<Smoothed>,
    latest: Option<Duration>,
    min: Option<Duration>,
    backoffs: u32,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `(num_old * old + new) / den` without overflow; the result lies between `old` and `new`.
fn weighted(old: u64, num_old: u128, new: u64, den: u128) -> u64 {
    let mixed = (num_old * u128::from(old) + u128::from(new)) / den;
    u64::try_from(mixed).unwrap_or(u64::MAX)
}

impl RttEstimator {
    /// An estimator without samples. `initial_rto` is the timeout until the first sample
    /// (RFC 6298 section 2.1). A `max_rto` below `min_rto` is raised to `min_rto`, so that the
    /// timeout always lies in `[min_rto, max_rto]`.
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        RttEstimator {
            initial_rto,
            min_rto,
            max_rto: max_rto.max(min_rto),
            smoothed: None,
            latest: None,
            min: None,
            backoffs: 0,
        }
    }

    /// Takes one RTT measurement (RFC 6298 sections 2.2 and 2.3) and clears the backoff.
    ///
    /// Only samples from packets sent once may be given (Karn's rule); see the type docs.
    pub fn on_sample(&mut self, rtt: Duration) {
        let r = micros(rtt);
        self.smoothed = Some(match self.smoothed {
            // Section 2.2: SRTT <- R, RTTVAR <- R/2.
            None => Smoothed {
                srtt: r,
                rttvar: r / 2,
            },
            // Section 2.3: RTTVAR first (with the old SRTT), then SRTT.
            Some(Smoothed { srtt, rttvar }) => Smoothed {
                rttvar: weighted(rttvar, 3, srtt.abs_diff(r), 4),
                srtt: weighted(srtt, 7, r, 8),
            },
        });
        let sample = Duration::from_micros(r);
        self.latest = Some(sample);
        self.min = Some(self.min.map_or(sample, |m| m.min(sample)));
        self.backoffs = 0;
    }

    /// Smoothed round-trip time (SRTT), once a sample was taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.smoothed.map(|s| Duration::from_micros(s.srtt))
    }

    /// Round-trip time variation (RTTVAR), once a sample was taken.
    pub fn rttvar(&self) -> Option<Duration> {
        self.smoothed.map(|s| Duration::from_micros(s.rttvar))
    }

    /// The most recent sample.
    pub fn latest(&self) -> Option<Duration> {
        self.latest
    }

    /// The smallest sample seen so far.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min
    }

    /// Forgets the smallest sample (after a route change or a clock step); the next sample
    /// starts it again. The smoothed estimate follows new samples by itself.
    pub fn forget_min(&mut self) {
        self.min = None;
    }

    /// The retransmission timeout: `SRTT + max(G, 4 * RTTVAR)` (RFC 6298 section 2.3), or the
    /// initial RTO before any sample, clamped to `[min_rto, max_rto]`, then doubled once per
    /// [`backoff`](Self::backoff) and capped at `max_rto`.
    pub fn rto(&self) -> Duration {
        let base = match self.smoothed {
            None => self.initial_rto,
            Some(Smoothed { srtt, rttvar }) => {
                let variance = Duration::from_micros(rttvar.saturating_mul(4)).max(GRANULARITY);
                Duration::from_micros(srtt).saturating_add(variance)
            }
        };
        let base = base.max(self.min_rto).min(self.max_rto);
        let backed_off = match 1u32.checked_shl(self.backoffs) {
            Some(factor) => base.saturating_mul(factor),
            None if base.is_zero() => base,
            None => self.max_rto,
        };
        backed_off.min(self.max_rto)
    }

    /// Doubles the timeout after a retransmission timeout fired (RFC 6298 section 5.5). The
    /// timeout saturates at `max_rto`; the count keeps rising (see
    /// [`backoff_count`](Self::backoff_count)).
    pub fn backoff(&mut self) {
        self.backoffs = self.backoffs.saturating_add(1);
    }

    /// Forgets the backoff, e.g. when an ACK shows the peer is alive again.
    pub fn reset_backoff(&mut self) {
        self.backoffs = 0;
    }

    /// Backoffs since the last sample or reset: the number of consecutive timeouts.
    pub fn backoff_count(&self) -> u32 {
        self.backoffs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn estimator() -> RttEstimator {
        RttEstimator::new(ms(1000), ms(250), ms(60_000))
    }

    #[test]
    fn nothing_known_before_the_first_sample() {
        let e = estimator();
        assert_eq!(e.srtt(), None);
        assert_eq!(e.rttvar(), None);
        assert_eq!(e.latest(), None);
        assert_eq!(e.min_rtt(), None);
        assert_eq!(e.rto(), ms(1000));
        assert_eq!(e.backoff_count(), 0);
    }

    #[test]
    fn first_sample_sets_srtt_and_half_of_it_as_variance() {
        let mut e = estimator();
        e.on_sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), Some(ms(50)));
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn second_sample_follows_rfc6298_section_2_3() {
        let mut e = estimator();
        e.on_sample(ms(100));
        e.on_sample(ms(200));
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5 ms; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5 ms.
        assert_eq!(e.rttvar(), Some(Duration::from_micros(62_500)));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(112_500 + 250_000));
        assert_eq!(e.latest(), Some(ms(200)));
        assert_eq!(e.min_rtt(), Some(ms(100)));
    }

    #[test]
    fn granularity_bounds_the_variance_term() {
        let mut e = RttEstimator::new(ms(1000), Duration::from_micros(1), ms(60_000));
        for _ in 0..200 {
            e.on_sample(ms(20));
        }
        assert_eq!(e.rttvar(), Some(Duration::ZERO));
        assert_eq!(e.rto(), ms(20) + GRANULARITY);
    }

    #[test]
    fn rto_is_clamped_to_the_floor_and_ceiling() {
        let mut e = estimator();
        e.on_sample(ms(10));
        assert_eq!(e.rto(), ms(250));
        e.on_sample(ms(100_000));
        assert_eq!(e.rto(), ms(60_000));
    }

    #[test]
    fn backoff_doubles_saturates_and_is_cleared_by_a_sample() {
        let mut e = estimator();
        e.backoff();
        assert_eq!(e.rto(), ms(2000));
        e.backoff();
        assert_eq!(e.rto(), ms(4000));
        for _ in 0..100 {
            e.backoff();
        }
        assert_eq!(e.rto(), ms(60_000));
        assert_eq!(e.backoff_count(), 102);
        e.reset_backoff();
        assert_eq!(e.rto(), ms(1000));
        e.backoff();
        e.on_sample(ms(100));
        assert_eq!(e.backoff_count(), 0);
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn inverted_bounds_do_not_panic() {
        let e = RttEstimator::new(ms(5), ms(500), ms(100));
        assert_eq!(e.rto(), ms(500));
    }

    proptest! {
        #[test]
        fn rto_stays_within_bounds(
            initial in 0u64..200_000_000,
            min in 0u64..5_000_000,
            span in 0u64..100_000_000,
            events in proptest::collection::vec(prop_oneof![
                (0u64..u64::MAX).prop_map(Some),
                Just(None),
            ], 0..60),
        ) {
            let min_rto = Duration::from_micros(min);
            let max_rto = Duration::from_micros(min + span);
            let mut e = RttEstimator::new(Duration::from_micros(initial), min_rto, max_rto);
            prop_assert!(e.rto() >= min_rto && e.rto() <= max_rto);
            for ev in events {
                match ev {
                    Some(sample) => e.on_sample(Duration::from_micros(sample)),
                    None => e.backoff(),
                }
                prop_assert!(e.rto() >= min_rto && e.rto() <= max_rto, "rto {:?}", e.rto());
            }
        }

        #[test]
        fn srtt_lies_between_the_smallest_and_largest_sample(
            samples in proptest::collection::vec(0u64..10_000_000_000, 1..50),
        ) {
            let mut e = estimator();
            for &s in &samples {
                e.on_sample(Duration::from_micros(s));
            }
            let lo = Duration::from_micros(*samples.iter().min().unwrap());
            let hi = Duration::from_micros(*samples.iter().max().unwrap());
            let srtt = e.srtt().unwrap();
            prop_assert!(lo <= srtt && srtt <= hi);
            prop_assert_eq!(e.min_rtt(), Some(lo));
            prop_assert_eq!(e.latest(), Some(Duration::from_micros(*samples.last().unwrap())));
        }

        #[test]
        fn first_sample_sets_srtt_r_and_rttvar_half_r(r in any::<u64>()) {
            let mut e = estimator();
            e.on_sample(Duration::from_micros(r));
            prop_assert_eq!(e.srtt(), Some(Duration::from_micros(r)));
            prop_assert_eq!(e.rttvar(), Some(Duration::from_micros(r / 2)));
        }
    }
}
