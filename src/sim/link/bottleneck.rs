//! The state of a rate-limited FIFO with tail drop (see [`Impairment::Bottleneck`]).
//!
//! A busy period starts at `epoch`, when a datagram finds the queue empty; the `n`-th byte
//! accepted since then leaves at `epoch + n / rate`, rounded up to the microsecond. Computing
//! from the epoch, not from the previous departure, keeps rounding from accumulating, so the
//! long-run throughput is exactly `rate`.
//!
//! [`Impairment::Bottleneck`]: super::config::Impairment::Bottleneck

use crate::proto::time::Instant;

const MICROS_PER_SECOND: u128 = 1_000_000;

/// One bottleneck's queue.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bottleneck {
    /// Start of the current busy period.
    epoch: Instant,
    /// Bytes accepted since `epoch`.
    accepted: u64,
    /// When the last accepted byte leaves; the queue is idle from then on.
    busy_until: Instant,
}

impl Bottleneck {
    /// Offers `len` bytes arriving at `at` (not earlier than any previous arrival). Returns when
    /// the datagram has been serialised, or `None` when it is tail-dropped.
    pub(crate) fn offer(
        &mut self,
        at: Instant,
        len: usize,
        rate: u64,
        queue: u64,
    ) -> Option<Instant> {
        let len = len as u64;
        if at >= self.busy_until {
            self.epoch = at;
            self.accepted = 0;
        }
        let elapsed = u128::from(at.as_micros().saturating_sub(self.epoch.as_micros()));
        let served = elapsed * u128::from(rate) / MICROS_PER_SECOND;
        let backlog = u128::from(self.accepted).saturating_sub(served);
        if backlog + u128::from(len) > u128::from(queue) {
            return None;
        }
        self.accepted += len;
        let busy = (u128::from(self.accepted) * MICROS_PER_SECOND).div_ceil(u128::from(rate));
        self.busy_until = Instant::from_micros(self.epoch.as_micros().saturating_add(busy as u64));
        Some(self.busy_until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Instant = Instant::ZERO;

    #[test]
    fn an_idle_queue_only_adds_serialisation_time() {
        let mut q = Bottleneck::default();
        // 1000 bytes at 1 MB/s: 1 ms.
        assert_eq!(
            q.offer(T0, 1000, 1_000_000, 10_000),
            Some(Instant::from_micros(1000))
        );
        // Long after, idle again.
        let later = Instant::from_micros(50_000);
        assert_eq!(
            q.offer(later, 500, 1_000_000, 10_000),
            Some(Instant::from_micros(50_500))
        );
    }

    #[test]
    fn back_to_back_datagrams_leave_at_the_rate_without_drift() {
        let mut q = Bottleneck::default();
        // 3 bytes per microsecond does not divide 1000-byte datagrams evenly.
        let mut last = T0;
        for n in 1..=3000u64 {
            last = q
                .offer(T0, 1000, 3_000_000, u64::MAX)
                .expect("unbounded queue");
            assert_eq!(last.as_micros(), (n * 1000).div_ceil(3));
        }
        assert_eq!(last, Instant::from_micros(1_000_000));
    }

    #[test]
    fn a_full_queue_drops_the_tail_and_drains_at_the_rate() {
        let mut q = Bottleneck::default();
        let rate = 1_000_000;
        assert!(q.offer(T0, 1000, rate, 3000).is_some());
        assert!(q.offer(T0, 1000, rate, 3000).is_some());
        assert!(q.offer(T0, 1000, rate, 3000).is_some());
        assert_eq!(q.offer(T0, 1, rate, 3000), None);
        // After 1 ms one datagram has left: room for another.
        let t = Instant::from_micros(1000);
        assert_eq!(
            q.offer(t, 1000, rate, 3000),
            Some(Instant::from_micros(4000))
        );
        assert_eq!(q.offer(t, 1, rate, 3000), None);
    }
}
