//! Pacing: packets leave spread over the round trip instead of in one burst per window.
//!
//! A token bucket in bytes, filled at the pacing rate and holding at most one burst. A packet may
//! go when the bucket holds its size; otherwise [`Pacer::next_send`] says when it will. The rate
//! is the congestion window per smoothed RTT times a gain (twice that in slow start, 1.25 times
//! after), as Linux TCP paces (`tcp_update_pacing_rate`, `tcp_pacing_ss_ratio` = 200 %,
//! `tcp_pacing_ca_ratio` = 120 %; we take 125 % for a little more headroom). The burst bounds
//! what a peer must absorb at once, whatever the window: a receiver behind a small socket
//! buffer (208 KiB by default on Linux) is not flooded by a 1 MiB window sent back to back.
//!
//! Sans-IO: the caller passes the time in and arms a timer for the instant returned.

use crate::proto::time::Instant;
use core::time::Duration;

/// Largest burst in bytes: 16 packets of 1402 bytes (libutp's default packet). Small against
/// the 208 KiB default Linux UDP receive buffer (about 90 such datagrams once the kernel's
/// per-datagram overhead is counted); at one send opportunity per millisecond it still allows
/// 21 MiB/s, and ACKs arriving in between give more.
pub const DEFAULT_BURST: usize = 16 * 1402;

/// Largest burst at high rates: the bucket holds up to a millisecond of data at the pacing
/// rate (as Linux sizes TSO bursts: `sk_pacing_shift` 10, about 1 ms), at least the connection's
/// own burst and at most 64 KiB, one UDP segmentation-offload send (44 packets of 1472 bytes). At
/// 100 Mbit/s a millisecond is 12.5 KB, below [`DEFAULT_BURST`]: only fast paths burst more.
pub const MAX_BURST: usize = 65_536;

/// The share of a second of data a burst may hold at high rates: 1 ms.
const BURST_SECONDS: f64 = 0.001;

/// Pacing gain in slow start: 2, as Linux (`tcp_pacing_ss_ratio` = 200).
pub const SLOW_START_GAIN: f64 = 2.0;

/// Pacing gain after slow start: 1.25 (Linux uses 1.2, `tcp_pacing_ca_ratio` = 120).
pub const AVOIDANCE_GAIN: f64 = 1.25;

/// Token bucket of one connection's pacing.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Bytes that may go now; may dip below zero by one packet.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated: Option<Instant>,
    burst: usize,
}

impl Pacer {
    /// A full bucket of `burst` bytes (at least 1).
    pub fn new(burst: usize) -> Self {
        let burst = burst.max(1);
        Pacer {
            tokens: burst as f64,
            updated: None,
            burst,
        }
    }

    /// The pacing rate in bytes per second for `window` bytes per `srtt`, with `gain`;
    /// `None` (no pacing) before the first RTT sample or for a zero RTT.
    pub fn rate(window: usize, srtt: Option<Duration>, gain: f64) -> Option<f64> {
        let srtt = srtt?.as_secs_f64();
        (srtt > 0.0).then(|| window as f64 * gain / srtt)
    }

    /// The bucket's size at `rate`: the connection's burst, or a millisecond of data when that
    /// is more, up to [`MAX_BURST`].
    fn cap(&self, rate: f64) -> f64 {
        let floor = self.burst as f64;
        (rate * BURST_SECONDS).clamp(floor, floor.max(MAX_BURST as f64))
    }

    fn refill(&mut self, now: Instant, rate: f64) {
        if let Some(then) = self.updated {
            let elapsed = now.saturating_duration_since(then).as_secs_f64();
            self.tokens = (self.tokens + elapsed * rate).min(self.cap(rate));
        }
        self.updated = Some(now);
    }

    /// When a packet of `size` bytes may go at `rate` (bytes per second): `None` for now,
    /// otherwise the instant the bucket will hold it. `rate` `None` never holds a packet back.
    pub fn next_send(&mut self, now: Instant, size: usize, rate: Option<f64>) -> Option<Instant> {
        let Some(rate) = rate.filter(|r| *r > 0.0) else {
            self.tokens = self.burst as f64;
            self.updated = Some(now);
            return None;
        };
        self.refill(now, rate);
        // A packet larger than the burst goes once the bucket is full.
        let need = (size as f64).min(self.cap(rate));
        if self.tokens >= need {
            return None;
        }
        let wait = ((need - self.tokens) / rate * 1e6).ceil().max(1.0);
        // At most a second: a tiny rate never parks the connection for long.
        Some(now + Duration::from_micros(wait.min(1e6) as u64))
    }

    /// A packet of `size` bytes went at `now`.
    pub fn on_sent(&mut self, now: Instant, size: usize) {
        if self.updated.is_none() {
            self.updated = Some(now);
        }
        self.tokens = (self.tokens - size as f64).max(-(size as f64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_high_rates_the_bucket_holds_a_millisecond_up_to_one_offload_send() {
        let mut p = Pacer::new(DEFAULT_BURST);
        // 1 GB/s: a millisecond is 1 MB, capped at 64 KiB.
        let fast = Some(1e9);
        assert_eq!(p.next_send(us(0), 1472, fast), None);
        let mut sent = 0;
        let t = us(10_000); // long idle: the bucket is full
        while p.next_send(t, 1472, fast).is_none() {
            p.on_sent(t, 1472);
            sent += 1472;
        }
        assert!(
            (MAX_BURST - 1472..=MAX_BURST + 1472).contains(&sent),
            "{sent} bytes at once"
        );
        // 100 Mbit/s: a millisecond is less than the default burst, which stays the cap.
        let mut p = Pacer::new(DEFAULT_BURST);
        let slow = Some(12.5e6);
        assert_eq!(p.next_send(us(0), 1402, slow), None);
        let mut sent = 0;
        while p.next_send(t, 1402, slow).is_none() {
            p.on_sent(t, 1402);
            sent += 1402;
        }
        assert_eq!(sent, DEFAULT_BURST);
    }

    fn us(n: u64) -> Instant {
        Instant::from_micros(n)
    }

    #[test]
    fn a_burst_goes_at_once_then_packets_follow_at_the_rate() {
        let mut p = Pacer::new(3000);
        // 1 MB/s: 1000 bytes per millisecond.
        let rate = Some(1_000_000.0);
        for _ in 0..3 {
            assert_eq!(p.next_send(us(0), 1000, rate), None);
            p.on_sent(us(0), 1000);
        }
        assert_eq!(p.next_send(us(0), 1000, rate), Some(us(1000)));
        assert_eq!(p.next_send(us(400), 1000, rate), Some(us(1000)));
        assert_eq!(p.next_send(us(1000), 1000, rate), None);
        p.on_sent(us(1000), 1000);
        // Idle for long: the bucket holds one burst, no more.
        for _ in 0..3 {
            assert_eq!(p.next_send(us(60_000), 1000, rate), None);
            p.on_sent(us(60_000), 1000);
        }
        assert!(p.next_send(us(60_000), 1000, rate).is_some());
    }

    #[test]
    fn no_rate_no_pacing() {
        let mut p = Pacer::new(1000);
        for _ in 0..10 {
            assert_eq!(p.next_send(us(0), 1000, None), None);
            p.on_sent(us(0), 1000);
        }
        assert_eq!(Pacer::rate(10_000, None, 2.0), None);
        assert_eq!(
            Pacer::rate(10_000, Some(Duration::from_millis(100)), 2.0),
            Some(200_000.0)
        );
    }
}
