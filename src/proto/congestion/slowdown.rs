//! LEDBAT++'s periodic slowdown (draft-irtf-iccrg-ledbat-plus-plus-01 section 4.4).
//!
//! A LEDBAT connection that starts while others keep the bottleneck's queue at the target takes
//! that queue for part of the path's base delay and aims for twice the target: the latecomer
//! advantage (RFC 6817 section 4.4). LEDBAT++ has every connection step aside now and then: it
//! drops its window to [`SLOWDOWN_PACKETS`] packets for [`SLOWDOWN_RTTS`] round trips, which lets
//! the queue drain so every connection on the path sees the true base delay, then slow-starts
//! back to the window it had. The next slowdown comes [`SLOWDOWN_INTERVAL_FACTOR`] times the
//! length of the last one later (about 10 % of the time spent below the previous window); the
//! first comes [`FIRST_SLOWDOWN_RTTS`] round trips after the initial slow start ends.
//!
//! This type is the schedule only; [`super::Ledbat`] applies the window changes it asks for.

use crate::proto::time::Instant;
use core::time::Duration;

/// Window during a slowdown, in packets: 2, as the draft's section 4.4.
pub const SLOWDOWN_PACKETS: usize = 2;

/// Length of the frozen part of a slowdown, in round trips: 2, as the draft's section 4.4.
pub const SLOWDOWN_RTTS: u32 = 2;

/// Round trips between the end of the initial slow start and the first slowdown: 2, as the
/// draft's section 4.4.
pub const FIRST_SLOWDOWN_RTTS: u32 = 2;

/// The next slowdown starts this many times the last one's length after it ended: 9, as the
/// draft's section 4.4 (a connection spends at most about 10 % of its time slowed down).
pub const SLOWDOWN_INTERVAL_FACTOR: u32 = 9;

/// Where a connection is in the slowdown cycle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// No slowdown scheduled yet (the initial slow start is still running).
    Unscheduled,
    /// Running normally; the next slowdown starts at `at`.
    Waiting {
        /// When the next slowdown begins.
        at: Instant,
    },
    /// The window is held at [`SLOWDOWN_PACKETS`] until `until`; `restore` is the window to
    /// slow-start back to.
    Frozen {
        /// When the slowdown began.
        began: Instant,
        /// When the window may grow again.
        until: Instant,
        /// The window before the slowdown, in bytes.
        restore: f64,
    },
    /// Slow-starting back to the window held before the slowdown that began at `began`.
    Regrowing {
        /// When the slowdown began.
        began: Instant,
    },
}

/// What the controller must do after [`Slowdown::poll`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Nothing changes.
    None,
    /// Drop the window to [`SLOWDOWN_PACKETS`] packets and keep it there.
    Freeze,
    /// Slow-start back to this window (bytes).
    Regrow(f64),
}

/// The periodic-slowdown schedule of one connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slowdown {
    phase: Phase,
}

impl Default for Slowdown {
    fn default() -> Self {
        Slowdown {
            phase: Phase::Unscheduled,
        }
    }
}

impl Slowdown {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// True while the window must stay at [`SLOWDOWN_PACKETS`].
    pub fn is_frozen(&self) -> bool {
        matches!(self.phase, Phase::Frozen { .. })
    }

    /// A slow start ended at `now` (the initial one, or the regrowth after a slowdown):
    /// schedules the next slowdown.
    pub fn on_slow_start_end(&mut self, now: Instant, rtt: Duration) {
        self.phase = match self.phase {
            Phase::Unscheduled => Phase::Waiting {
                at: now + rtt * FIRST_SLOWDOWN_RTTS,
            },
            Phase::Regrowing { began } => {
                let length = now.saturating_duration_since(began);
                Phase::Waiting {
                    at: now + length * SLOWDOWN_INTERVAL_FACTOR,
                }
            }
            other => other,
        };
    }

    /// Advances the schedule at `now` for a connection whose window is `window` bytes and
    /// whose round trip is `rtt`; returns what the window must do.
    pub fn poll(&mut self, now: Instant, window: f64, rtt: Duration) -> Action {
        match self.phase {
            Phase::Waiting { at } if now >= at => {
                self.phase = Phase::Frozen {
                    began: now,
                    until: now + rtt * SLOWDOWN_RTTS,
                    restore: window,
                };
                Action::Freeze
            }
            Phase::Frozen {
                began,
                until,
                restore,
            } if now >= until => {
                self.phase = Phase::Regrowing { began };
                Action::Regrow(restore)
            }
            _ => Action::None,
        }
    }

    /// A loss or timeout cut the window: a slowdown in progress is abandoned (the cut already
    /// drains the queue) and the next one is scheduled once slow start or recovery ends.
    pub fn on_cut(&mut self, now: Instant) {
        if let Phase::Frozen { began, .. } = self.phase {
            self.phase = Phase::Regrowing { began };
        }
        if let Phase::Waiting { at } = self.phase {
            if at < now {
                self.phase = Phase::Waiting { at: now };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Instant {
        Instant::from_micros(v * 1000)
    }

    #[test]
    fn one_full_cycle() {
        let rtt = Duration::from_millis(50);
        let mut s = Slowdown::default();
        assert_eq!(s.poll(ms(0), 10_000.0, rtt), Action::None);
        s.on_slow_start_end(ms(1000), rtt);
        assert_eq!(s.phase(), Phase::Waiting { at: ms(1100) });
        assert_eq!(s.poll(ms(1099), 10_000.0, rtt), Action::None);
        assert_eq!(s.poll(ms(1100), 10_000.0, rtt), Action::Freeze);
        assert!(s.is_frozen());
        // Frozen for two round trips.
        assert_eq!(s.poll(ms(1199), 2_000.0, rtt), Action::None);
        assert_eq!(s.poll(ms(1200), 2_000.0, rtt), Action::Regrow(10_000.0));
        assert!(!s.is_frozen());
        // Back at the old window 300 ms after the slowdown began: the next one is 9 x 300 ms
        // after that.
        s.on_slow_start_end(ms(1400), rtt);
        assert_eq!(
            s.phase(),
            Phase::Waiting {
                at: ms(1400 + 2700)
            }
        );
    }

    #[test]
    fn a_cut_during_a_slowdown_ends_it() {
        let rtt = Duration::from_millis(50);
        let mut s = Slowdown::default();
        s.on_slow_start_end(ms(0), rtt);
        assert_eq!(s.poll(ms(100), 10_000.0, rtt), Action::Freeze);
        s.on_cut(ms(150));
        assert_eq!(s.phase(), Phase::Regrowing { began: ms(100) });
        assert_eq!(s.poll(ms(300), 2_000.0, rtt), Action::None);
    }
}
