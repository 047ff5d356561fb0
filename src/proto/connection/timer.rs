//! The timers of one connection, in a table indexed by [`Timer`] (the layout quinn-proto uses).

use crate::proto::time::Instant;

/// A connection timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Retransmission timeout (RFC 6298), also SYN retransmission.
    Retransmit = 0,
    /// Delayed ACK (RFC 1122 section 4.2.3.2).
    Ack = 1,
    /// Keepalive after idle sending (libutp: 29 s).
    Keepalive = 2,
    /// Zero-window probe (RFC 9293 section 3.8.6.1 persist timer).
    Persist = 3,
    /// End of lingering after close, to re-ACK a retransmitted FIN.
    Linger = 4,
    /// RACK reorder timer (RFC 8985 section 6.3): an overtaken packet becomes lost.
    Loss = 5,
    /// Nothing heard from the peer for `Config::idle_timeout`.
    Idle = 6,
    /// The pacer lets the next packet go (see [`crate::proto::congestion::Pacer`]).
    Pace = 7,
    /// Path-MTU discovery: the outstanding probe is given up on, or a converged search probes
    /// again (RFC 8899 `PROBE_TIMER` and `PMTU_RAISE_TIMER`).
    Pmtu = 8,
    /// An accepted connection the peer has not confirmed yet is reported confirmed anyway
    /// (see [`crate::proto::Event::Confirmed`]).
    Confirm = 9,
}

const COUNT: usize = 10;
const ALL: [Timer; COUNT] = [
    Timer::Retransmit,
    Timer::Ack,
    Timer::Keepalive,
    Timer::Persist,
    Timer::Linger,
    Timer::Loss,
    Timer::Idle,
    Timer::Pace,
    Timer::Pmtu,
    Timer::Confirm,
];

/// An unarmed slot: a deadline at the end of time, which never comes (so the earliest armed
/// deadline is a plain minimum over the table).
const UNARMED: u64 = u64::MAX;

/// Deadlines of every timer of a connection, in microseconds of engine time.
#[derive(Debug, Clone)]
pub struct TimerTable {
    deadlines: [u64; COUNT],
}

impl Default for TimerTable {
    fn default() -> Self {
        TimerTable {
            deadlines: [UNARMED; COUNT],
        }
    }
}

impl TimerTable {
    /// Arms `timer` for `at`, replacing any earlier deadline. (A deadline at the very end of
    /// engine time, `u64::MAX` microseconds, is the same as none.)
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = at.as_micros();
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = UNARMED;
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        let at = self.deadlines[timer as usize];
        (at != UNARMED).then(|| Instant::from_micros(at))
    }

    /// Disarms everything.
    pub fn stop_all(&mut self) {
        self.deadlines = [UNARMED; COUNT];
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        let at = self.deadlines.iter().copied().min().unwrap_or(UNARMED);
        (at != UNARMED).then(|| Instant::from_micros(at))
    }

    /// Disarms and returns the timers due at `now`, earliest table order first.
    pub fn expire(&mut self, now: Instant) -> impl Iterator<Item = Timer> {
        let mut due = [None; COUNT];
        let now = now.as_micros();
        for timer in ALL {
            let at = &mut self.deadlines[timer as usize];
            if *at != UNARMED && *at <= now {
                *at = UNARMED;
                due[timer as usize] = Some(timer);
            }
        }
        due.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_returns_only_due_timers_and_disarms_them() {
        let mut t = TimerTable::default();
        t.set(Timer::Ack, Instant::from_micros(10));
        t.set(Timer::Retransmit, Instant::from_micros(30));
        assert_eq!(t.next(), Some(Instant::from_micros(10)));
        let due: Vec<_> = t.expire(Instant::from_micros(20)).collect();
        assert_eq!(due, vec![Timer::Ack]);
        assert_eq!(t.next(), Some(Instant::from_micros(30)));
        t.stop_all();
        assert_eq!(t.next(), None);
    }
}
