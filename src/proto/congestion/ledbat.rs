//! The LEDBAT congestion window: RFC 6817 section 2.4.2's delay-based controller with libutp's
//! delay measurement, slow start and loss reaction, and our own response above the target.
//!
//! Each ACK applies its share (`window_factor = min(acked, cwnd) / max(acked, cwnd)`) of a
//! per-round-trip change:
//! * at or below the target: `max(fairness_gain, max_increase_per_rtt * off_target)`, where
//!   `off_target = (target - delay) / target` (RFC 6817's `GAIN * off_target * MSS` per round
//!   with libutp's byte cap) and the fairness gain is the square root of the window in packets
//!   ([`MAX_FAIRNESS_SHARE`]);
//! * above it: `fairness_gain - RESPONSE_PER_RTT * cwnd * (delay - target) / rtt`, half the
//!   excess queue the window holds ([`RESPONSE_PER_RTT`]).
//!
//! The delay is our direction's filtered queuing delay, capped by the RTT of the packets just
//! acknowledged and raised by the clock-drift penalty. Slow start tapers as the delay nears its
//! exit point ([`SLOW_START_MIN_PACE`]). LEDBAT++ (draft-irtf-iccrg-ledbat-plus-plus) is
//! available behind [`LedbatConfig::plus_plus`].
//!
//! Bounds and deviations, all documented on the items below:
//! * the window stays within `[min_window, max_window]`;
//! * a delay-driven decrease takes at most half the window per round (one window of ACKed
//!   bytes), and a loss reaction counts against that round;
//! * growth is withheld while the sender is not using the window, and a window unused for
//!   [`NON_VALIDATED_PERIOD`] is halved (RFC 7661).

use core::time::Duration;

use crate::proto::config::Config;
use crate::proto::time::Instant;

use super::delay::{wrapping_lt, DelayHistory, NO_SAMPLE};
use super::drift::ClockDrift;
use super::slowdown::{Action, Slowdown, SLOWDOWN_PACKETS};

/// Target queuing delay: 100 ms, the most RFC 6817 section 2.5 allows and libutp's value.
pub const DEFAULT_TARGET: Duration = Duration::from_millis(100);

/// Largest window increase per RTT, in bytes: 3000, libutp's `MAX_CWND_INCREASE_BYTES_PER_RTT`.
pub const DEFAULT_MAX_INCREASE_PER_RTT: usize = 3000;

/// Slow start ends when the queuing delay exceeds this fraction of the target: 0.9, as libutp.
pub const DEFAULT_SLOW_START_EXIT_FRACTION: f64 = 0.9;

/// Initial window in packets: 2, RFC 6817 section 2.5 `INIT_CWND` (libutp starts with 1).
pub const DEFAULT_INITIAL_WINDOW_PACKETS: usize = 2;

/// Smallest window in packets: 1, the loss window of RFC 5681 section 3.1 that a timeout
/// falls back to. RFC 6817 section 2.5 suggests `MIN_CWND` = 2; libutp goes down to 10 bytes.
pub const DEFAULT_MIN_WINDOW_PACKETS: usize = 1;

/// Default window cap: 1 MiB, libutp's default `UTP_SNDBUF`.
pub const DEFAULT_MAX_CWND: usize = 1024 * 1024;

/// Largest clock-skew correction taken from one drop of the peer's base delay: 10 ms, as
/// libutp.
pub const MAX_SKEW_SHIFT_MICROS: u32 = 10_000;

/// A timestamp difference of `0x7FFF_FFFF` also means "no sample" (libutp).
pub const NO_SAMPLE_ALT: u32 = 0x7FFF_FFFF;

/// Tunables of [`Ledbat`].
#[derive(Debug, Clone, PartialEq)]
pub struct LedbatConfig {
    /// Target queuing delay. Default [`DEFAULT_TARGET`]. Zero is read as the default (libutp
    /// does the same with non-positive targets).
    pub target: Duration,
    /// Largest window in bytes (the send buffer). Default [`DEFAULT_MAX_CWND`]. Read as at
    /// least 1.
    pub max_cwnd: usize,
    /// Smallest window, in packets of the current MSS. Default
    /// [`DEFAULT_MIN_WINDOW_PACKETS`]. The floor is at least one byte and at most `max_cwnd`.
    pub min_cwnd_packets: usize,
    /// Most the window may grow per RTT, in bytes. Default [`DEFAULT_MAX_INCREASE_PER_RTT`].
    /// Setting it to the MSS gives RFC 6817's `GAIN` = 1.
    pub max_increase_per_rtt: usize,
    /// Slow start ends once the queuing delay exceeds this fraction of `target`. Default
    /// [`DEFAULT_SLOW_START_EXIT_FRACTION`].
    pub slow_start_exit_fraction: f64,
    /// Initial window in packets. Default [`DEFAULT_INITIAL_WINDOW_PACKETS`].
    pub initial_window_packets: usize,
    /// LEDBAT++ behaviour (draft-irtf-iccrg-ledbat-plus-plus-01): slow start grows by a gain of
    /// `1 / min(16, ceil(2 * target / base RTT))` per acknowledged byte and ends at 3/4 of the
    /// target, and the window steps aside periodically ([`super::slowdown`]) so that
    /// connections on the same bottleneck all see its true base delay. Default off.
    pub plus_plus: bool,
}

impl Default for LedbatConfig {
    fn default() -> Self {
        LedbatConfig {
            target: DEFAULT_TARGET,
            max_cwnd: DEFAULT_MAX_CWND,
            min_cwnd_packets: DEFAULT_MIN_WINDOW_PACKETS,
            max_increase_per_rtt: DEFAULT_MAX_INCREASE_PER_RTT,
            slow_start_exit_fraction: DEFAULT_SLOW_START_EXIT_FRACTION,
            initial_window_packets: DEFAULT_INITIAL_WINDOW_PACKETS,
            plus_plus: false,
        }
    }
}

impl From<&Config> for LedbatConfig {
    /// Target from `target_delay`, cap from `send_buffer`, defaults otherwise.
    fn from(config: &Config) -> Self {
        LedbatConfig {
            target: config.target_delay,
            max_cwnd: config.send_buffer,
            ..LedbatConfig::default()
        }
    }
}

/// One round of ACK clocking: the bytes acknowledged since it began and the lowest window a
/// delay-driven decrease may reach before the next round.
#[derive(Debug, Clone, Copy)]
struct Round {
    /// The window when the round began; the round ends after this many bytes were acked.
    length: f64,
    acked: f64,
    floor: f64,
}

impl Round {
    /// A round after which the window may have lost at most half of `window`.
    fn halving(window: f64) -> Self {
        Round {
            length: window,
            acked: 0.0,
            floor: window / 2.0,
        }
    }

    /// A round in which the window may not decrease at all (it was just cut).
    fn frozen(window: f64) -> Self {
        Round {
            length: window,
            acked: 0.0,
            floor: window,
        }
    }
}

/// Round trips a filtered one-way queuing delay may exceed before it counts as impossible
/// (with [`IMPOSSIBLE_DELAY_MARGIN`]): 2, leaving room for an RTT sample taken before the
/// queue grew. Our own choice.
pub const IMPOSSIBLE_DELAY_RTTS: u32 = 2;
/// Slack added to that bound, so short round trips (loopback) do not trip it on jitter. Our
/// own choice.
pub const IMPOSSIBLE_DELAY_MARGIN: Duration = Duration::from_millis(100);
/// Consecutive impossible samples that restart the delay history. Our own choice: more than
/// the current-delay filter's 3, so one outlier never does.
pub const IMPOSSIBLE_DELAY_SAMPLES: u32 = 8;

/// Share of the excess queue a delay above the target removes per round trip: 1/2.
///
/// libutp shrinks the window above the target as slowly as it grows it below (at most 3000
/// bytes per round trip whatever the window), so a queue built by a slow-start overshoot or by
/// a latecomer takes minutes to drain on a fast path. Here a window `W` whose round trip `rtt`
/// carries a queuing delay `delay` above `target` keeps `W * (delay - target) / rtt` bytes of
/// the queue beyond the target; half of that goes per round trip, which drains the excess
/// geometrically without overshooting when the feedback arrives one round trip late
/// (LEDBAT++, draft-irtf-iccrg-ledbat-plus-plus section 4.2, also decreases in proportion to
/// the window). A window-independent fairness gain ([`MAX_FAIRNESS_SHARE`]) is added to every
/// round above the target; below it the window grows by that gain or libutp's
/// `max_increase_per_rtt * off_target`, whichever is larger. At most half the window goes per
/// round (see `Round`). Our own choice.
pub const RESPONSE_PER_RTT: f64 = 0.5;

/// Cap of the fairness gain as a share of the window: 1/16. Each connection settles where
/// its fairness gain equals its delay response, `(delay - target) / rtt = 2 * gain / window`;
/// a square-root gain makes that the same window for connections sharing a queue (so they
/// converge to equal shares, which a controller that stops exactly at the target never does),
/// and this cap keeps the standing delay above the target below `rtt / 8` on small windows.
/// Our own choice.
pub const MAX_FAIRNESS_SHARE: f64 = 1.0 / 16.0;

/// LEDBAT++ ends slow start at 3/4 of the target (draft-irtf-iccrg-ledbat-plus-plus-01
/// section 4.2).
pub const PLUS_PLUS_SLOW_START_EXIT_FRACTION: f64 = 0.75;

/// LEDBAT++'s largest gain divisor: 16 (its section 4.1).
pub const PLUS_PLUS_MAX_GAIN_DIVISOR: f64 = 16.0;

/// How long a window may go unused before [`Ledbat::validate`] halves it: 5 minutes, RFC 7661
/// section 4.4.3's non-validated period.
pub const NON_VALIDATED_PERIOD: Duration = Duration::from_secs(300);

/// Slow start grows the window by `acked * (1 - delay / exit)` per ACK, where `exit` is the
/// delay that ends slow start: a doubling per round trip on an empty queue, tapering as the
/// queue nears the exit point, but never below this share of a doubling, so slow start still
/// ends. Our own choice (HyStart++, RFC 9406, also slows slow start down once the delay rises).
pub const SLOW_START_MIN_PACE: f64 = 0.25;

/// LEDBAT congestion controller of one connection.
///
/// Feed it the delay samples of every received packet ([`on_delay_sample`](Self::on_delay_sample)
/// and [`on_peer_delay_sample`](Self::on_peer_delay_sample)) before the ACK information of the
/// same packet ([`on_ack`](Self::on_ack)), and loss or timeout events as they are detected.
#[derive(Debug, Clone)]
pub struct Ledbat {
    config: LedbatConfig,
    mss: usize,
    /// Window in bytes; fractional so that small per-ACK changes add up.
    cwnd: f64,
    /// `None`: not set yet, which reads as `max_cwnd`.
    ssthresh: Option<usize>,
    slow_start: bool,
    ours: DelayHistory,
    theirs: DelayHistory,
    drift: ClockDrift,
    /// The latest RTT sample [`Ledbat::on_ack`] was given: bounds a believable queuing delay.
    last_rtt: Option<Duration>,
    /// Consecutive delay samples whose filtered queuing delay was impossible (see
    /// [`IMPOSSIBLE_DELAY_SAMPLES`]).
    impossible_samples: u32,
    last_cut: Option<Instant>,
    round: Round,
    /// Window, ssthresh and slow-start flag before the last cut, for undoing it.
    before_cut: Option<(f64, Option<usize>, bool)>,
    /// When the window was last in use (flight at least half of it), RFC 7661's validation.
    last_validated: Option<Instant>,
    /// Smallest RTT sample seen (LEDBAT++'s base delay for its slow-start gain).
    min_rtt: Option<Duration>,
    /// Set when [`Ledbat::check_for_step`] restarts the delay base.
    base_restarted: bool,
    /// LEDBAT++'s periodic slowdown schedule (used with [`LedbatConfig::plus_plus`]).
    slowdown: Slowdown,
}

impl Ledbat {
    /// A controller in slow start with the initial window; `mss` is the payload of a full
    /// packet in bytes (read as at least 1).
    pub fn new(config: LedbatConfig, mss: usize) -> Self {
        let mut cc = Ledbat {
            config,
            mss: mss.max(1),
            cwnd: 0.0,
            ssthresh: None,
            slow_start: true,
            ours: DelayHistory::new(),
            theirs: DelayHistory::new(),
            drift: ClockDrift::new(),
            last_rtt: None,
            impossible_samples: 0,
            last_cut: None,
            round: Round::halving(0.0),
            before_cut: None,
            last_validated: None,
            min_rtt: None,
            base_restarted: false,
            slowdown: Slowdown::default(),
        };
        let initial = cc.config.initial_window_packets.saturating_mul(cc.mss);
        cc.cwnd = cc.clamp(initial as f64);
        cc.round = Round::halving(cc.cwnd);
        cc
    }

    /// Upper bound of the window: `max_cwnd`, at least 1 byte.
    pub fn max_window(&self) -> usize {
        self.config.max_cwnd.max(1)
    }

    /// Lower bound of the window: `min_cwnd_packets` packets, at least 1 byte and at most
    /// [`max_window`](Self::max_window).
    pub fn min_window(&self) -> usize {
        let floor = self.config.min_cwnd_packets.saturating_mul(self.mss).max(1);
        floor.min(self.max_window())
    }

    fn clamp(&self, window: f64) -> f64 {
        let (lo, hi) = (self.min_window() as f64, self.max_window() as f64);
        if window.is_nan() {
            return lo;
        }
        // lo <= hi by construction of min_window, so clamp cannot panic.
        window.clamp(lo, hi)
    }

    /// The congestion window in bytes, within `[min_window, max_window]`.
    pub fn window(&self) -> usize {
        (self.cwnd as usize).clamp(self.min_window(), self.max_window())
    }

    /// The payload size of a full packet, as last set.
    pub fn mss(&self) -> usize {
        self.mss
    }

    /// Changes the packet payload size (after MTU discovery); the window keeps its byte count
    /// but respects the new floor.
    pub fn set_mss(&mut self, mss: usize) {
        self.mss = mss.max(1);
        self.cwnd = self.clamp(self.cwnd);
    }

    /// Changes the window cap (the send buffer). A lower cap shrinks the window at once.
    pub fn set_max_cwnd(&mut self, bytes: usize) {
        self.config.max_cwnd = bytes;
        self.cwnd = self.clamp(self.cwnd);
    }

    /// The configuration in use.
    pub fn config(&self) -> &LedbatConfig {
        &self.config
    }

    fn target_micros(&self) -> f64 {
        let target = if self.config.target.is_zero() {
            DEFAULT_TARGET
        } else {
            self.config.target
        };
        target.as_micros() as f64
    }

    /// Our direction: the timestamp difference the peer reported in a packet it sent us (its
    /// receive time minus our send time, low 32 bits). 0 and `0x7FFF_FFFF` mean "no sample"
    /// and are ignored (libutp).
    pub fn on_delay_sample(&mut self, now: Instant, sample: u32) {
        if sample == NO_SAMPLE || sample == NO_SAMPLE_ALT {
            return;
        }
        self.ours.add_sample(now, sample);
        self.drift.add_sample(now, sample);
        self.check_for_step(now, sample);
    }

    /// A one-way queuing delay cannot exceed the round trip. When even the filtered delay has
    /// stayed above [`IMPOSSIBLE_DELAY_RTTS`] round trips plus [`IMPOSSIBLE_DELAY_MARGIN`] for
    /// [`IMPOSSIBLE_DELAY_SAMPLES`] samples in a row, the base is wrong, not the queue: a clock
    /// stepped backwards (or the path got longer than the base minutes remember). The delay
    /// history is restarted from the current sample instead of waiting the
    /// [`super::delay::BASE_HISTORY`] minutes the base would take to expire (RFC 6817 section
    /// 2.4.2 lets the base follow a route change; a forward step needs nothing, as a lower
    /// sample becomes the base at once).
    fn check_for_step(&mut self, now: Instant, sample: u32) {
        let (Some(delay), Some(rtt)) = (self.ours.current_delay(), self.last_rtt) else {
            return;
        };
        if delay <= rtt * IMPOSSIBLE_DELAY_RTTS + IMPOSSIBLE_DELAY_MARGIN {
            self.impossible_samples = 0;
            return;
        }
        self.impossible_samples += 1;
        if self.impossible_samples >= IMPOSSIBLE_DELAY_SAMPLES {
            log::info!(
                "queuing delay {delay:?} exceeds the round trip ({rtt:?}): delay base restarted"
            );
            self.ours.clear();
            self.drift.clear();
            self.ours.add_sample(now, sample);
            self.drift.add_sample(now, sample);
            self.impossible_samples = 0;
            self.min_rtt = None;
            self.base_restarted = true;
        }
    }

    /// Whether the delay base was restarted (a clock step or a route change) since the last
    /// call: the connection then forgets its smallest RTT too.
    pub fn take_base_restart(&mut self) -> bool {
        core::mem::take(&mut self.base_restarted)
    }

    /// Their direction: our receive time minus the peer's timestamp (low 32 bits), used only to
    /// compensate for clock skew, as libutp does. When the peer's base delay drops by at most
    /// [`MAX_SKEW_SHIFT_MICROS`], our clock gains on theirs by that much, which would inflate
    /// our direction's delay: our base is shifted up by the same amount. Larger drops are
    /// taken as real route changes. 0 means "no sample" and is ignored.
    pub fn on_peer_delay_sample(&mut self, now: Instant, sample: u32) {
        let before = self.theirs.base();
        self.theirs.add_sample(now, sample);
        if let (Some(old), Some(new)) = (before, self.theirs.base()) {
            if wrapping_lt(new, old) {
                let drop = old.wrapping_sub(new);
                if drop <= MAX_SKEW_SHIFT_MICROS {
                    self.ours.shift_base(drop);
                }
            }
        }
    }

    /// The peer's direction's filtered queuing delay, from the samples given to
    /// [`on_peer_delay_sample`](Self::on_peer_delay_sample). `None` before the first sample.
    pub fn peer_queuing_delay(&self) -> Option<Duration> {
        self.theirs.current_delay()
    }

    /// Our direction's filtered queuing delay (minimum of the last 3 samples above the base
    /// delay), before the RTT cap and drift penalty that [`on_ack`](Self::on_ack) applies.
    /// `None` before the first sample.
    pub fn queuing_delay(&self) -> Option<Duration> {
        self.ours.current_delay()
    }

    /// The smoothed clock drift of our direction, µs per 5 s (see [`ClockDrift`]).
    pub fn clock_drift(&self) -> i64 {
        self.drift.drift()
    }

    /// The delay penalty the clock drift currently earns (zero unless the drift is below
    /// -200 000 µs per 5 s).
    pub fn drift_penalty(&self) -> Duration {
        self.drift.penalty()
    }

    /// The delay the window reacts to: the filtered queuing delay (0 before any sample), at
    /// most `rtt` when known (a one-way queuing delay cannot exceed the round trip), plus the
    /// drift penalty.
    fn control_delay(&self, rtt: Option<Duration>) -> Duration {
        let measured = self.ours.current_delay().unwrap_or(Duration::ZERO);
        let capped = rtt.map_or(measured, |r| measured.min(r));
        capped.saturating_add(self.drift.penalty())
    }

    /// The window-independent part of the per-round change (see [`RESPONSE_PER_RTT`]): the
    /// square root of the window in packets, in packets, and at most [`MAX_FAIRNESS_SHARE`] of
    /// the window.
    fn fairness_gain(&self, cwnd: f64) -> f64 {
        let mss = self.mss as f64;
        (mss * (cwnd / mss).max(1.0).sqrt()).min(cwnd * MAX_FAIRNESS_SHARE)
    }

    /// An ACK newly acknowledged `bytes_acked` bytes. `flight_before` is the number of bytes in
    /// flight before this ACK (including the ones it acknowledges); `rtt` is the smallest RTT
    /// among the acknowledged packets that were sent only once, if any.
    ///
    /// Growth (slow start or a positive LEDBAT gain) only happens while the sender uses the
    /// window: `2 * flight_before >= window`. That is RFC 7661's "validated" threshold (pipe
    /// at least half the window), judged per ACK; libutp instead checks whether the window was
    /// full in the last second. Decreases apply regardless.
    pub fn on_ack(
        &mut self,
        now: Instant,
        bytes_acked: usize,
        flight_before: usize,
        rtt: Option<Duration>,
    ) {
        if let Some(r) = rtt {
            self.last_rtt = rtt;
            self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
        }
        if bytes_acked == 0 {
            return;
        }
        if self.config.plus_plus && self.apply_slowdown(now) {
            return;
        }
        let was_slow_start = self.slow_start;
        if self.round.acked >= self.round.length {
            self.round = Round::halving(self.cwnd);
        }
        let acked = bytes_acked as f64;
        self.round.acked += acked;

        let cwnd = self.cwnd;
        let target = self.target_micros();
        let delay = self.control_delay(rtt).as_micros() as f64;
        let using_window = flight_before.saturating_mul(2) >= self.window();
        if using_window {
            self.last_validated = Some(now);
        }

        // The window's change over one round trip (see `RESPONSE_PER_RTT`), spread over the
        // round's ACKs.
        let off_target = (target - delay) / target;
        let window_factor = acked.min(cwnd) / acked.max(cwnd);
        let round_trip = rtt
            .or(self.last_rtt)
            .map_or(target, |r| r.as_micros() as f64)
            .max(delay)
            .max(1.0);
        let fairness = self.fairness_gain(cwnd);
        let per_round = if delay <= target {
            fairness.max(self.config.max_increase_per_rtt as f64 * off_target)
        } else {
            fairness - RESPONSE_PER_RTT * cwnd * (delay - target) / round_trip
        };
        let mut gain = per_round.max(-cwnd / 2.0) * window_factor;
        if gain > 0.0 && !using_window {
            gain = 0.0;
        }
        // The floor bounds a decrease; it never lifts a window that is already below it.
        let ledbat = (cwnd + gain).max(self.round.floor.min(cwnd));

        let next = if !self.slow_start {
            ledbat
        } else if delay > self.exit_fraction() * target {
            self.slow_start = false;
            self.ssthresh = Some(self.window());
            ledbat
        } else {
            // Slow start slows down as the delay approaches the exit point: the delay seen now
            // is a round trip old, and a full doubling in that round trip would overshoot the
            // target by as much again (and overflow a queue not much deeper than the target).
            let exit = self.exit_fraction() * target;
            let pace = if exit > 0.0 {
                (1.0 - delay / exit).clamp(SLOW_START_MIN_PACE, 1.0)
            } else {
                1.0
            };
            let grown = if using_window {
                cwnd + acked.min(cwnd) * pace * self.slow_start_gain()
            } else {
                cwnd
            };
            let ssthresh = self.ssthresh() as f64;
            if grown > ssthresh {
                self.slow_start = false;
                ledbat.max(ssthresh.min(grown))
            } else {
                ledbat.max(grown)
            }
        };
        self.cwnd = self.clamp(next);
        if was_slow_start && !self.slow_start && self.config.plus_plus {
            let rtt = self.last_rtt.unwrap_or(self.config.target);
            self.slowdown.on_slow_start_end(now, rtt);
        }
    }

    /// Congestion-window validation (RFC 7661 section 4.4.3), called before new data is sent
    /// with `flight` bytes outstanding: a window that has not been in use (flight at least half
    /// of it) for [`NON_VALIDATED_PERIOD`] no longer says anything about the path, and is
    /// halved (not below the initial window), with ssthresh kept at 3/4 of it so slow start
    /// regains it quickly. Repeats every period the window stays unused. Growth is withheld
    /// meanwhile anyway (see [`on_ack`](Self::on_ack)).
    pub fn validate(&mut self, now: Instant, flight: usize) {
        if flight.saturating_mul(2) >= self.window() {
            self.last_validated = Some(now);
            return;
        }
        let since = *self.last_validated.get_or_insert(now);
        if now.saturating_duration_since(since) < NON_VALIDATED_PERIOD {
            return;
        }
        let initial = self.config.initial_window_packets.saturating_mul(self.mss) as f64;
        let before = self.cwnd;
        self.ssthresh = Some(self.ssthresh().max((before * 0.75) as usize));
        self.cwnd = self.clamp((before / 2.0).max(initial.min(before)));
        self.last_validated = Some(now);
        log::debug!(
            "window unused for {NON_VALIDATED_PERIOD:?}: {before:.0} -> {:.0} bytes",
            self.cwnd
        );
    }

    /// The delay that ends slow start, as a fraction of the target: the configured one, or
    /// LEDBAT++'s 3/4.
    fn exit_fraction(&self) -> f64 {
        if self.config.plus_plus {
            PLUS_PLUS_SLOW_START_EXIT_FRACTION
        } else {
            self.config.slow_start_exit_fraction
        }
    }

    /// Share of the acknowledged bytes slow start adds to the window: 1, or LEDBAT++'s
    /// `1 / min(16, ceil(2 * target / base RTT))` (its section 4.1: slower on paths whose
    /// round trip is short next to the target).
    fn slow_start_gain(&self) -> f64 {
        if !self.config.plus_plus {
            return 1.0;
        }
        let Some(base) = self.min_rtt.filter(|r| !r.is_zero()) else {
            return 1.0 / PLUS_PLUS_MAX_GAIN_DIVISOR;
        };
        let ratio = (2.0 * self.target_micros() / base.as_micros() as f64).ceil();
        1.0 / ratio.clamp(1.0, PLUS_PLUS_MAX_GAIN_DIVISOR)
    }

    /// Runs LEDBAT++'s slowdown schedule; true while the window is held down by it.
    fn apply_slowdown(&mut self, now: Instant) -> bool {
        let rtt = self.last_rtt.unwrap_or(self.config.target);
        match self.slowdown.poll(now, self.cwnd, rtt) {
            Action::Freeze => {
                self.cwnd = self.clamp(SLOWDOWN_PACKETS.saturating_mul(self.mss) as f64);
                self.slow_start = false;
                self.before_cut = None;
                self.round = Round::frozen(self.cwnd);
            }
            Action::Regrow(window) => {
                self.ssthresh = Some(window as usize);
                self.slow_start = true;
                self.round = Round::halving(self.cwnd);
            }
            Action::None => {}
        }
        self.slowdown.is_frozen()
    }

    /// LEDBAT++'s slowdown schedule.
    pub fn slowdown(&self) -> &Slowdown {
        &self.slowdown
    }

    /// A loss was detected (selective or duplicate ACKs). Halves the window, at most once per
    /// `srtt` (a burst of losses is one congestion event), leaves slow start and sets ssthresh
    /// to the new window, as libutp. RFC 6817 section 2.4.2 asks for TCP's reaction to loss.
    /// The halving uses up the current round's decrease allowance.
    pub fn on_loss(&mut self, now: Instant, srtt: Duration) {
        if let Some(last) = self.last_cut {
            if now.saturating_duration_since(last) < srtt {
                return;
            }
        }
        self.last_cut = Some(now);
        self.slowdown.on_cut(now);
        self.before_cut = Some((self.cwnd, self.ssthresh, self.slow_start));
        self.cwnd = self.clamp(self.cwnd / 2.0);
        self.ssthresh = Some(self.window());
        self.slow_start = false;
        self.round = Round::frozen(self.cwnd);
    }

    /// The retransmission timer fired: the window falls to [`min_window`](Self::min_window)
    /// (one packet by default) and slow start begins again with ssthresh at half the old
    /// window (RFC 5681 section 3.1). Losses reported within the next `srtt` (see
    /// [`on_loss`](Self::on_loss)) do not cut again.
    pub fn on_timeout(&mut self, now: Instant) {
        let old = self.window();
        if self.before_cut.is_none() || self.last_cut.is_none_or(|t| t < now) {
            self.before_cut = Some((self.cwnd, self.ssthresh, self.slow_start));
        }
        self.ssthresh = Some((old / 2).max(self.min_window()));
        self.cwnd = self.clamp(self.min_window() as f64);
        self.slow_start = true;
        self.last_cut = Some(now);
        self.slowdown.on_cut(now);
        self.round = Round::frozen(self.cwnd);
    }

    /// The last cut (loss halving or timeout collapse) turned out to answer a spurious
    /// retransmission: restore the window, ssthresh and slow-start state from before it
    /// (the Eifel response, RFC 4015 section 3). Does nothing when there is nothing to undo.
    pub fn undo_last_cut(&mut self) {
        if let Some((cwnd, ssthresh, slow_start)) = self.before_cut.take() {
            self.cwnd = self.clamp(cwnd);
            self.ssthresh = ssthresh;
            self.slow_start = slow_start;
            self.round = Round::halving(self.cwnd);
        }
    }

    /// Timeouts turned out to have another cause than congestion (a path-MTU black hole): slow
    /// start resumes from the current window up to `ssthresh`, the window held before them,
    /// instead of crawling up from the one-packet window by additive increase.
    pub fn resume_after_non_congestion_timeouts(&mut self, ssthresh: usize) {
        self.ssthresh = Some(ssthresh.max(self.min_window()));
        self.slow_start = true;
        self.before_cut = None;
    }

    /// Whether the controller is in slow start.
    pub fn in_slow_start(&self) -> bool {
        self.slow_start
    }

    /// The slow start threshold in bytes; `max_window` until a loss, timeout or delay exit set
    /// it.
    pub fn ssthresh(&self) -> usize {
        self.ssthresh.unwrap_or_else(|| self.max_window())
    }

    /// Takes over the delay histories of `other`, a controller of another connection over the
    /// same path (same peer address, so the same two clocks): a newcomer then measures the
    /// queue the older connection keeps as queue, not as part of the base.
    pub fn inherit_delay_base(&mut self, other: &Ledbat) {
        self.ours = other.ours.clone();
        self.theirs = other.theirs.clone();
        self.drift = other.drift.clone();
    }

    /// Ensemble sharing of the window (RFC 9040 section 8): a new connection over the same path
    /// as `other` takes half of `other`'s window, which keeps the other half, so the two start
    /// from an even split instead of the newcomer slow-starting into a queue the other keeps
    /// at the target (delay-based control alone evens out two windows only slowly). Done only
    /// when `other` has left slow start (its window reflects the path) and its half is larger
    /// than this controller's window.
    pub fn take_share_of(&mut self, other: &mut Ledbat) {
        let half = other.cwnd / 2.0;
        if other.slow_start || other.last_rtt.is_none() || half <= self.cwnd {
            return;
        }
        other.cwnd = other.clamp(half);
        other.round = Round::frozen(other.cwnd);
        other.before_cut = None;
        self.cwnd = self.clamp(half);
        self.slow_start = false;
        self.ssthresh = Some(self.window());
        self.last_rtt = other.last_rtt;
        self.round = Round::frozen(self.cwnd);
    }

    /// Forgets all delay measurements (both directions and the drift), e.g. after the peer's
    /// address changed. The window is kept.
    pub fn clear_delay_history(&mut self) {
        self.ours.clear();
        self.theirs.clear();
        self.drift.clear();
    }
}
