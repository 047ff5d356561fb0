//! Clock drift estimate and delay penalty, as libutp does it. RFC 6817 Appendix A.2 explains
//! why skew between the two clocks distorts the one-way delay; this is libutp's defence against
//! a peer whose clock runs slow (which would make our direction look ever less congested).
//!
//! Raw delay samples of our direction are averaged over periods of [`DRIFT_PERIOD`]. The
//! difference between consecutive averages is the drift in microseconds per period, smoothed
//! with weight 1/8. Below [`PENALTY_THRESHOLD`] the controller adds a penalty to the delay.

use core::time::Duration;

use crate::proto::time::Instant;

use super::delay::NO_SAMPLE;

/// Length of one averaging period: 5 s, as libutp.
pub const DRIFT_PERIOD: Duration = Duration::from_secs(5);

/// Smoothed drift (µs per [`DRIFT_PERIOD`]) below which a delay penalty applies: -200 000, as
/// libutp.
pub const PENALTY_THRESHOLD: i64 = -200_000;

/// The penalty is the drift beyond [`PENALTY_THRESHOLD`] divided by this (libutp).
pub const PENALTY_DIVISOR: i64 = 7;

/// Drift estimator for the delay samples of one direction.
#[derive(Debug, Clone, Default)]
pub struct ClockDrift {
    /// The value this period's samples are measured from: the first sample at first, then the
    /// previous period's average, so that the next average is directly the change.
    reference: Option<u32>,
    /// Whether `reference` is a period average (a drift can be computed).
    have_average: bool,
    /// How many periods separate the period `reference` averages and the running one (more
    /// than 1 after periods without samples).
    span: u64,
    /// When the running period closes. Periods stay aligned to the first sample's time.
    period_end: Option<Instant>,
    sum: i64,
    count: i64,
    /// Smoothed drift, µs per period.
    drift: i64,
}

impl ClockDrift {
    /// An estimator without samples.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one raw sample taken at `now`; [`NO_SAMPLE`] is ignored.
    pub fn add_sample(&mut self, now: Instant, sample: u32) {
        if sample == NO_SAMPLE {
            return;
        }
        if let Some(end) = self.period_end {
            if now >= end {
                self.close_period(now, end);
            }
        }
        let reference = *self.reference.get_or_insert(sample);
        self.sum += i64::from(sample.wrapping_sub(reference) as i32);
        self.count += 1;
        self.period_end.get_or_insert(now + DRIFT_PERIOD);
    }

    /// Ends the period that ended at `end`; `now` falls into a later one.
    fn close_period(&mut self, now: Instant, end: Instant) {
        let average = self.sum / self.count.max(1);
        if self.have_average {
            let step = average / i64::try_from(self.span.max(1)).unwrap_or(i64::MAX);
            self.drift = (self.drift * 7 + step) / 8;
        }
        self.have_average = true;
        self.reference = self.reference.map(|r| r.wrapping_add(average as u32));
        self.sum = 0;
        self.count = 0;
        // The period `now` falls into, counted from the one just closed.
        let skipped = now.saturating_duration_since(end).as_micros() / DRIFT_PERIOD.as_micros();
        self.span = u64::try_from(skipped).unwrap_or(u64::MAX).saturating_add(1);
        let ahead = Duration::from_secs(self.span.saturating_mul(DRIFT_PERIOD.as_secs()));
        self.period_end = Some(end + ahead);
    }

    /// The smoothed drift in microseconds per [`DRIFT_PERIOD`]; negative when the samples fall
    /// over time (the receiving clock runs slower than the sending one). 0 until two periods
    /// were seen.
    pub fn drift(&self) -> i64 {
        self.drift
    }

    /// The delay penalty: `(-drift - 200 000) / 7` µs when the drift is below
    /// [`PENALTY_THRESHOLD`], else zero.
    pub fn penalty(&self) -> Duration {
        if self.drift >= PENALTY_THRESHOLD {
            return Duration::ZERO;
        }
        let micros = (PENALTY_THRESHOLD - self.drift) / PENALTY_DIVISOR;
        Duration::from_micros(u64::try_from(micros).unwrap_or(0))
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds one sample every 100 ms for `seconds` from `from_ms`; the value is `start` at time
    /// zero and falls by `slope` µs per second (wrapping).
    fn feed(d: &mut ClockDrift, from_ms: u64, seconds: u64, start: u32, slope: i64) {
        for i in 0..seconds * 10 {
            let t_ms = from_ms + i * 100;
            let fall = slope * (t_ms as i64) / 1000;
            let sample = start.wrapping_sub(fall as u32);
            d.add_sample(
                Instant::from_micros(t_ms * 1000),
                if sample == 0 { 1 } else { sample },
            );
        }
    }

    #[test]
    fn constant_delay_has_no_drift() {
        let mut d = ClockDrift::new();
        feed(&mut d, 0, 60, 40_000, 0);
        assert_eq!(d.drift(), 0);
        assert_eq!(d.penalty(), Duration::ZERO);
    }

    #[test]
    fn a_slow_receiving_clock_earns_a_penalty() {
        let mut d = ClockDrift::new();
        // 400 ms per second is 2 000 000 µs per 5 s period; the start wraps soon.
        feed(&mut d, 0, 60, 1_000_000, 400_000);
        // Ten period steps of -2 000 000 smoothed with weight 1/8.
        assert!(d.drift() < -1_400_000, "drift {}", d.drift());
        assert!(d.drift() > -2_000_000, "drift {}", d.drift());
        let expected = (-d.drift() - 200_000) / 7;
        assert_eq!(d.penalty(), Duration::from_micros(expected as u64));
    }

    #[test]
    fn small_drift_is_tolerated() {
        let mut d = ClockDrift::new();
        // 20 ms per second: -100 000 µs per period, above the -200 000 threshold.
        feed(&mut d, 0, 120, 5_000_000, 20_000);
        assert!(d.drift() < -90_000, "drift {}", d.drift());
        assert_eq!(d.penalty(), Duration::ZERO);
    }

    #[test]
    fn a_rising_delay_is_positive_drift_without_penalty() {
        let mut d = ClockDrift::new();
        feed(&mut d, 0, 60, 1_000, -400_000);
        assert!(d.drift() > 1_400_000, "drift {}", d.drift());
        assert_eq!(d.penalty(), Duration::ZERO);
    }

    #[test]
    fn silent_periods_are_scaled_out() {
        let mut d = ClockDrift::new();
        // 40 ms per second: -200 000 µs per period.
        feed(&mut d, 0, 10, 10_000_000, 40_000);
        assert_eq!(d.drift(), 0);
        // Thirty seconds of silence, then the same slope continues. The first step (period 2
        // against period 1) is -200 000; the next spans seven periods and must count as one
        // step of -200 000 per period, not -1 400 000.
        feed(&mut d, 40_000, 10, 10_000_000, 40_000);
        assert_eq!(d.drift(), (-200_000 / 8 * 7 - 200_000) / 8);
        d.clear();
        assert_eq!(d.drift(), 0);
    }
}
