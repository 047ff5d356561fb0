//! NewReno's congestion window: slow start and congestion avoidance (RFC 5681 section 3.1), fast
//! retransmit and fast recovery with the partial-ACK handling of RFC 6582 section 3.2, and the
//! response to a retransmission timeout (RFC 5681 section 3.1, RFC 6582 section 4).
//!
//! With SACK, the sender runs RFC 6675's loss recovery instead of NewReno's: the window is cut
//! once per episode to `cwnd = ssthresh` and neither inflated nor grown until the episode ends
//! ([`Window::enter_sack_recovery`], [`Window::on_sack_new_ack`]); which segments to send is the
//! sender's business.
//!
//! Offsets are stream byte offsets; `una` is the first unacknowledged byte and `max` one past the
//! highest byte ever sent. Limited transmit (RFC 3042) is not modelled.

/// Initial window in segments: RFC 6928's ten (min(10 * MSS, max(2 * MSS, 14600)) is 10 MSS for
/// any MSS up to 1460, ours included).
pub const INITIAL_WINDOW_SEGMENTS: u64 = 10;

/// Duplicate ACKs that trigger fast retransmit (RFC 5681 section 3.2, "DupThresh").
pub const DUP_THRESH: u32 = 3;

/// What the sender must do after an acknowledgement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Reaction {
    /// Resend the first unacknowledged segment now, whatever the window.
    pub(super) retransmit_first: bool,
    /// Restart the retransmission timer (when data stays outstanding).
    pub(super) restart_timer: bool,
    /// This ACK began fast recovery.
    pub(super) entered_recovery: bool,
    /// This ACK was a partial ACK during fast recovery.
    pub(super) partial: bool,
}

/// Congestion state of one NewReno sender, in bytes.
#[derive(Debug, Clone)]
pub(super) struct Window {
    mss: u64,
    cwnd: u64,
    ssthresh: u64,
    dup_acks: u32,
    /// RFC 6582's `recover`: one past the highest byte sent when the last recovery (or timeout)
    /// began. Fast retransmit only starts for duplicate ACKs beyond it.
    recover: u64,
    in_recovery: bool,
    /// A partial ACK has arrived in the current recovery (only the first resets the timer).
    partial_seen: bool,
    /// Bytes acknowledged in congestion avoidance towards the next one-MSS increase.
    avoidance_credit: u64,
}

impl Window {
    /// A fresh window: the initial window, and an ssthresh "arbitrarily high" (RFC 5681 section
    /// 3.1).
    pub(super) fn new(mss: u64) -> Self {
        Window {
            mss,
            cwnd: INITIAL_WINDOW_SEGMENTS * mss,
            ssthresh: u64::MAX,
            dup_acks: 0,
            recover: 0,
            in_recovery: false,
            partial_seen: false,
            avoidance_credit: 0,
        }
    }

    pub(super) fn cwnd(&self) -> u64 {
        self.cwnd
    }

    pub(super) fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    pub(super) fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    /// RFC 5681 equation 4: half the flight, at least two segments.
    fn halved(&self, flight: u64) -> u64 {
        (flight / 2).max(2 * self.mss)
    }

    /// `acked` new bytes were acknowledged; `una` and `max` are the values after it.
    pub(super) fn on_new_ack(&mut self, acked: u64, una: u64, max: u64) -> Reaction {
        self.dup_acks = 0;
        let outstanding = una < max;
        if self.in_recovery {
            if una >= self.recover {
                // Full ACK (RFC 6582 section 3.2 step 3, option 1).
                let flight = max - una;
                self.cwnd = self.ssthresh.min(flight.max(self.mss) + self.mss);
                self.in_recovery = false;
                self.avoidance_credit = 0;
                return Reaction {
                    restart_timer: outstanding,
                    ..Reaction::default()
                };
            }
            // Partial ACK (step 4): retransmit the next hole, deflate by what was acknowledged,
            // add back one segment if at least one was acknowledged.
            self.cwnd = self.cwnd.saturating_sub(acked);
            if acked >= self.mss {
                self.cwnd += self.mss;
            }
            self.cwnd = self.cwnd.max(self.mss);
            let first = !self.partial_seen;
            self.partial_seen = true;
            return Reaction {
                retransmit_first: true,
                restart_timer: first,
                partial: true,
                ..Reaction::default()
            };
        }
        self.grow(acked);
        Reaction {
            restart_timer: outstanding,
            ..Reaction::default()
        }
    }

    /// Slow start or congestion avoidance for `acked` newly acknowledged bytes.
    fn grow(&mut self, acked: u64) {
        if self.cwnd < self.ssthresh {
            // Slow start (RFC 5681 equation 2).
            self.cwnd += acked.min(self.mss);
        } else {
            // Congestion avoidance: one MSS per window of acknowledged bytes, i.e. per RTT
            // (RFC 5681 section 3.1, byte counting as in RFC 3465).
            self.avoidance_credit += acked;
            while self.avoidance_credit >= self.cwnd {
                self.avoidance_credit -= self.cwnd;
                self.cwnd += self.mss;
            }
        }
    }

    /// Whether a new SACK recovery may begin with `una` acknowledged: not before the end of the
    /// data outstanding at the last recovery or timeout (RFC 6675 sections 5 and 5.1).
    pub(super) fn may_enter_sack_recovery(&self, una: u64) -> bool {
        !self.in_recovery && una >= self.recover
    }

    /// Loss detected with SACK while `[una, max)` is outstanding: RFC 6675 section 5 steps 4.1
    /// and 4.2, `RecoveryPoint = HighData` and `cwnd = ssthresh = max(FlightSize / 2, 2 * SMSS)`
    /// (RFC 5681 equation 4).
    pub(super) fn enter_sack_recovery(&mut self, una: u64, max: u64) {
        self.ssthresh = self.halved(max - una);
        self.cwnd = self.ssthresh;
        self.recover = max;
        self.in_recovery = true;
        self.dup_acks = 0;
        self.avoidance_credit = 0;
    }

    /// `acked` new bytes were acknowledged, up to `una`, by a sender using SACK recovery. During
    /// recovery the window stays put (RFC 6675 section 5 only sends what `cwnd - pipe` allows);
    /// an acknowledgement of the recovery point ends the episode (step A), and growth resumes
    /// with the next one. Returns whether this one ended a recovery.
    pub(super) fn on_sack_new_ack(&mut self, acked: u64, una: u64) -> bool {
        if self.in_recovery {
            if una >= self.recover {
                self.in_recovery = false;
                return true;
            }
            return false;
        }
        self.grow(acked);
        false
    }

    /// A duplicate acknowledgement of `una` arrived while `[una, max)` is outstanding.
    pub(super) fn on_dup_ack(&mut self, una: u64, max: u64) -> Reaction {
        self.dup_acks += 1;
        if self.in_recovery {
            // Each further duplicate means a segment left the network (RFC 5681 section 3.2
            // step 4, kept by RFC 6582).
            self.cwnd += self.mss;
            return Reaction::default();
        }
        // RFC 6582 section 3.2 step 2: only when the ACK covers more than `recover`.
        if self.dup_acks != DUP_THRESH || una < self.recover {
            return Reaction::default();
        }
        self.ssthresh = self.halved(max - una);
        self.recover = max;
        self.cwnd = self.ssthresh + u64::from(DUP_THRESH) * self.mss;
        self.in_recovery = true;
        self.partial_seen = false;
        Reaction {
            retransmit_first: true,
            entered_recovery: true,
            ..Reaction::default()
        }
    }

    /// The retransmission timer expired with `[una, max)` outstanding. `again` is true when the
    /// segment it retransmits was already retransmitted by a timeout, in which case ssthresh is
    /// held (RFC 5681 section 3.1, implementation note).
    pub(super) fn on_timeout(&mut self, una: u64, max: u64, again: bool) {
        if !again {
            self.ssthresh = self.halved(max - una);
        }
        // The loss window is one segment (RFC 5681 section 3.1).
        self.cwnd = self.mss;
        // RFC 6582 section 4: no fast retransmit for duplicates of data sent before the timeout.
        self.recover = max;
        self.in_recovery = false;
        self.dup_acks = 0;
        self.avoidance_credit = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u64 = 1000;

    #[test]
    fn slow_start_doubles_then_avoidance_adds_one_segment_per_window() {
        let mut w = Window::new(MSS);
        assert_eq!(w.cwnd(), 10 * MSS);
        for i in 1..=10 {
            w.on_new_ack(MSS, i * MSS, 20 * MSS);
        }
        assert_eq!(w.cwnd(), 20 * MSS);
        w.on_timeout(0, 20 * MSS, false);
        assert_eq!((w.cwnd(), w.ssthresh()), (MSS, 10 * MSS));
        let mut una = 0;
        while w.cwnd() < w.ssthresh() {
            una += MSS;
            w.on_new_ack(MSS, una, una + 5 * MSS);
        }
        // 10 segments of window need 10 segments acknowledged for the next one.
        for _ in 0..9 {
            una += MSS;
            w.on_new_ack(MSS, una, una + 5 * MSS);
        }
        assert_eq!(w.cwnd(), 10 * MSS);
        w.on_new_ack(MSS, una + MSS, una + 5 * MSS);
        assert_eq!(w.cwnd(), 11 * MSS);
    }

    #[test]
    fn third_duplicate_enters_recovery_and_partial_acks_deflate() {
        let mut w = Window::new(MSS);
        let max = 20 * MSS;
        assert_eq!(w.on_dup_ack(0, max), Reaction::default());
        assert_eq!(w.on_dup_ack(0, max), Reaction::default());
        let r = w.on_dup_ack(0, max);
        assert!(r.retransmit_first && r.entered_recovery);
        assert_eq!(w.ssthresh(), 10 * MSS);
        assert_eq!(w.cwnd(), 13 * MSS);
        w.on_dup_ack(0, max);
        assert_eq!(w.cwnd(), 14 * MSS, "inflated by a further duplicate");
        let r = w.on_new_ack(5 * MSS, 5 * MSS, max);
        assert!(r.partial && r.retransmit_first && r.restart_timer);
        assert_eq!(w.cwnd(), 10 * MSS, "14 - 5 + 1");
        let r = w.on_new_ack(5 * MSS, 10 * MSS, max);
        assert!(
            r.partial && !r.restart_timer,
            "only the first partial ACK resets the timer"
        );
        let r = w.on_new_ack(10 * MSS, max, max);
        assert!(!r.partial && !w.in_recovery());
        assert_eq!(w.cwnd(), 2 * MSS, "min(ssthresh, max(flight, MSS) + MSS)");
    }

    #[test]
    fn no_fast_retransmit_for_duplicates_below_recover() {
        let mut w = Window::new(MSS);
        w.on_timeout(0, 20 * MSS, false);
        for _ in 0..5 {
            assert!(!w.on_dup_ack(5 * MSS, 20 * MSS).retransmit_first);
        }
        assert!(!w.in_recovery());
    }

    #[test]
    fn a_repeated_timeout_holds_ssthresh() {
        let mut w = Window::new(MSS);
        w.on_timeout(0, 40 * MSS, false);
        w.on_timeout(0, 40 * MSS, true);
        assert_eq!((w.cwnd(), w.ssthresh()), (MSS, 20 * MSS));
    }

    #[test]
    fn sack_recovery_halves_once_and_holds_the_window_until_the_recovery_point() {
        let mut w = Window::new(MSS);
        assert!(w.may_enter_sack_recovery(0));
        w.enter_sack_recovery(0, 40 * MSS);
        assert_eq!((w.cwnd(), w.ssthresh()), (20 * MSS, 20 * MSS));
        assert!(
            !w.may_enter_sack_recovery(5 * MSS),
            "one reduction per episode"
        );
        assert!(!w.on_sack_new_ack(5 * MSS, 5 * MSS));
        assert_eq!(
            w.cwnd(),
            20 * MSS,
            "no growth, no deflation during recovery"
        );
        assert!(w.on_sack_new_ack(35 * MSS, 40 * MSS));
        assert_eq!(w.cwnd(), 20 * MSS);
        assert!(w.may_enter_sack_recovery(40 * MSS));
        // Congestion avoidance afterwards: 20 segments acknowledged for one more.
        w.on_sack_new_ack(20 * MSS, 60 * MSS);
        assert_eq!(w.cwnd(), 21 * MSS);
        // A tiny flight still leaves two segments.
        w.enter_sack_recovery(60 * MSS, 63 * MSS);
        assert_eq!(w.cwnd(), 2 * MSS);
    }
}
