//! The retransmission timeout of RFC 6298: smoothed RTT and variation from Karn-filtered
//! samples, exponential backoff on expiry.
//!
//! Deviation, on purpose: the floor is Linux's 200 ms (`TCP_RTO_MIN`) rather than RFC 6298's
//! 1 s (section 2.4), since the competitor we model is the TCP users actually run.

use core::time::Duration;

/// RTO before the first sample (RFC 6298 section 2.1).
pub const INITIAL_RTO: Duration = Duration::from_secs(1);
/// Floor of the RTO: Linux's `TCP_RTO_MIN` (RFC 6298 section 2.4 says 1 s; see the module doc).
pub const MIN_RTO: Duration = Duration::from_millis(200);
/// Ceiling of the RTO, backoff included (RFC 6298 section 2.5: "at least 60 seconds").
pub const MAX_RTO: Duration = Duration::from_secs(60);

/// RTT estimator and retransmission timeout.
#[derive(Debug, Clone)]
pub struct Rto {
    /// SRTT and RTTVAR, once there is a sample.
    estimate: Option<(Duration, Duration)>,
    /// The current timeout, backoff included.
    rto: Duration,
}

impl Default for Rto {
    fn default() -> Self {
        Rto {
            estimate: None,
            rto: INITIAL_RTO,
        }
    }
}

impl Rto {
    /// The current timeout.
    pub fn timeout(&self) -> Duration {
        self.rto
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.estimate.map(|(srtt, _)| srtt)
    }

    /// Folds in one RTT measurement `r` (RFC 6298 section 2.2 for the first, 2.3 after, with
    /// alpha = 1/8 and beta = 1/4). Recomputing the RTO also undoes any backoff (section 5.7).
    pub fn sample(&mut self, r: Duration) {
        let (srtt, rttvar) = match self.estimate {
            None => (r, r / 2),
            Some((srtt, rttvar)) => {
                let err = srtt.abs_diff(r);
                (srtt * 7 / 8 + r / 8, rttvar * 3 / 4 + err / 4)
            }
        };
        self.estimate = Some((srtt, rttvar));
        // K = 4; the clock granularity G (one microsecond) never matters.
        self.rto = (srtt + rttvar * 4).clamp(MIN_RTO, MAX_RTO);
    }

    /// Doubles the timeout after it expired (RFC 6298 section 5.5), up to [`MAX_RTO`].
    pub fn back_off(&mut self) {
        self.rto = (self.rto * 2).min(MAX_RTO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_sample_sets_srtt_and_half_of_it_as_variation() {
        let mut rto = Rto::default();
        assert_eq!(rto.timeout(), INITIAL_RTO);
        rto.sample(100 * MS);
        // 100 + 4 * 50.
        assert_eq!(rto.srtt(), Some(100 * MS));
        assert_eq!(rto.timeout(), 300 * MS);
    }

    #[test]
    fn later_samples_are_smoothed() {
        let mut rto = Rto::default();
        rto.sample(100 * MS);
        rto.sample(180 * MS);
        // SRTT = 7/8 * 100 + 1/8 * 180 = 110; RTTVAR = 3/4 * 50 + 1/4 * 80 = 57.5.
        assert_eq!(rto.srtt(), Some(110 * MS));
        assert_eq!(rto.timeout(), 340 * MS);
    }

    #[test]
    fn floor_backoff_and_ceiling() {
        let mut rto = Rto::default();
        rto.sample(10 * MS);
        assert_eq!(rto.timeout(), MIN_RTO);
        rto.back_off();
        assert_eq!(rto.timeout(), 400 * MS);
        for _ in 0..20 {
            rto.back_off();
        }
        assert_eq!(rto.timeout(), MAX_RTO);
        // A new sample undoes the backoff.
        rto.sample(10 * MS);
        assert_eq!(rto.timeout(), MIN_RTO);
    }
}
