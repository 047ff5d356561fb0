//! The model's bulk sender: MSS-sized segments, a NewReno window ([`super::window`]), an RFC 6298
//! retransmission timer ([`super::rto`]) with go-back-N after it fires, and RTT samples timed on
//! one segment at a time with Karn's rule (no sample across a retransmission).
//!
//! With SACK on ([`RenoSender::with_sack`]) loss recovery is RFC 6675's instead of RFC 6582's:
//!
//! * a [`Scoreboard`] of SACKed segments, updated by every ACK (section 5, `Update()`);
//! * recovery begins at the third duplicate ACK that brings new SACK information, or as soon as
//!   the first unacknowledged segment counts as lost (`IsLost`, DupThresh 3), not before the
//!   recovery point of the last episode or timeout (sections 5 and 5.1);
//! * one window reduction per episode, `cwnd = ssthresh = max(FlightSize / 2, 2 * SMSS)`;
//! * the first unacknowledged segment is resent at once (step 4.3), then segments go out while
//!   `cwnd - pipe >= SMSS` (step C), chosen by `NextSeg()`'s rules 1 to 3: lost segments above
//!   `HighRxt`, then new data, then any unSACKed segment above `HighRxt`; the optional "rescue"
//!   retransmission of rule 4 is not modelled;
//! * the episode ends when the cumulative ACK reaches the recovery point (step A);
//! * the timer restarts on every ACK of new data (RFC 6298 section 5.3), and no RTT is timed
//!   during recovery, whose cumulative ACKs wait for the holes below;
//! * after a timeout, the scoreboard is kept (the model's receiver never reneges) and the go-back
//!   skips SACKed segments, counting only unSACKed bytes as in flight; outside recovery the
//!   window is always compared with those.
//!
//! The sender is idle before its start time, transmits nothing at all (not even retransmissions)
//! from its stop time on, and ends on its own once a byte limit, if any, is acknowledged. It sends
//! whatever the window allows at once, unpaced, as an ACK-clocked TCP without pacing does.

use super::rto::Rto;
use super::scoreboard::Scoreboard;
use super::window::{Window, DUP_THRESH};
use super::wire::{self, SackBlocks, Segment, HEADER_LEN};
use crate::proto::endpoint::Transmit;
use crate::proto::time::Instant;
use core::time::Duration;
use std::net::SocketAddr;

/// Counters of one sender.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenoStats {
    /// Data datagrams sent, retransmissions included.
    pub segments_sent: u64,
    /// Of those, retransmissions (fast, partial-ACK and after a timeout).
    pub retransmits: u64,
    /// Fast recoveries entered (each begins with one fast retransmit), SACK recoveries included.
    pub fast_recoveries: u64,
    /// Partial ACKs handled during fast recovery (with SACK: ACKs of new data below the
    /// recovery point).
    pub partial_acks: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
}

/// State of RFC 6675 loss recovery, for a sender with SACK on. Segments are named by index
/// (offset / MSS).
#[derive(Debug, Clone, Default)]
struct SackState {
    board: Scoreboard,
    /// Duplicate ACKs in a row that brought new SACK information (RFC 6675 section 2).
    dup_acks: u32,
    /// RFC 6675's `pipe`, in bytes: the sender's estimate of what is in the network, valid
    /// during recovery.
    pipe: u64,
    /// One past `HighRxt`: the lowest segment not yet retransmitted in this episode.
    rxt_next: u64,
}

/// Sending end of a NewReno bulk flow.
#[derive(Debug, Clone)]
pub struct RenoSender {
    peer: SocketAddr,
    mss: u64,
    start: Instant,
    stop: Option<Instant>,
    /// The start time has been reached.
    started: bool,
    /// The stop time has been reached: the sender is silent for good.
    stopped: bool,
    /// Bytes to send; `u64::MAX` for an endless flow.
    end: u64,
    /// First unacknowledged byte.
    una: u64,
    /// Next byte to send (below `max` after a timeout, while going back over sent data).
    nxt: u64,
    /// One past the highest byte ever sent.
    max: u64,
    window: Window,
    /// Resend the segment at `una` before anything else.
    retransmit_first: bool,
    rto: Rto,
    /// When the retransmission timer fires, if it runs.
    timer: Option<Instant>,
    /// Timeouts in a row without an acknowledgement of new data.
    backoffs: u32,
    /// The segment being timed: its end offset and when it was sent.
    timing: Option<(u64, Instant)>,
    /// SACK-based loss recovery, when on (boxed: it is most of the sender's size).
    sack: Option<Box<SackState>>,
    stats: RenoStats,
}

impl RenoSender {
    /// An endless sender to `peer` starting at time zero, whose data datagrams are
    /// `datagram_size` bytes long (the model's 20-byte header included, so 1402 matches uTP's
    /// default datagram).
    ///
    /// # Panics
    /// When `datagram_size` leaves no room for payload.
    pub fn new(peer: SocketAddr, datagram_size: usize) -> Self {
        assert!(datagram_size > HEADER_LEN, "no room for payload");
        let mss = (datagram_size - HEADER_LEN) as u64;
        RenoSender {
            peer,
            mss,
            start: Instant::ZERO,
            stop: None,
            started: false,
            stopped: false,
            end: u64::MAX,
            una: 0,
            nxt: 0,
            max: 0,
            window: Window::new(mss),
            retransmit_first: false,
            rto: Rto::default(),
            timer: None,
            backoffs: 0,
            timing: None,
            sack: None,
            stats: RenoStats::default(),
        }
    }

    /// Uses the SACK blocks of the receiver's ACKs for RFC 6675 loss recovery instead of
    /// NewReno's partial ACKs (see the module documentation); the receiver must report them
    /// ([`RenoReceiver::with_sack`](super::RenoReceiver::with_sack)). Congestion control is
    /// unchanged: slow start, congestion avoidance and one halving per loss episode.
    pub fn with_sack(mut self) -> Self {
        self.sack = Some(Box::default());
        self
    }

    /// Whether SACK-based loss recovery is on.
    pub fn has_sack(&self) -> bool {
        self.sack.is_some()
    }

    /// Sends nothing before `start`.
    pub fn starting_at(mut self, start: Instant) -> Self {
        self.start = start;
        self
    }

    /// Sends nothing from `stop` on: the flow is abandoned, as if its application quit.
    pub fn stopping_at(mut self, stop: Instant) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Sends `bytes` in all, then ends once they are acknowledged.
    pub fn limited_to(mut self, bytes: u64) -> Self {
        self.end = bytes;
        self
    }

    /// Payload bytes per segment.
    pub fn mss(&self) -> u64 {
        self.mss
    }

    /// Bytes acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.una
    }

    /// Whether every byte of a limited flow is acknowledged.
    pub fn is_done(&self) -> bool {
        self.una >= self.end
    }

    /// Congestion window in bytes.
    pub fn cwnd(&self) -> u64 {
        self.window.cwnd()
    }

    /// Slow-start threshold in bytes (`u64::MAX` until the first loss).
    pub fn ssthresh(&self) -> u64 {
        self.window.ssthresh()
    }

    /// Whether fast recovery is under way.
    pub fn in_recovery(&self) -> bool {
        self.window.in_recovery()
    }

    /// Smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rto.srtt()
    }

    /// Current retransmission timeout, backoff included.
    pub fn rto(&self) -> Duration {
        self.rto.timeout()
    }

    /// Counters.
    pub fn stats(&self) -> RenoStats {
        self.stats
    }

    /// Notes the start and the stop as time reaches them; whether the sender may act at `now`.
    fn active(&mut self, now: Instant) -> bool {
        self.started |= now >= self.start;
        if self.stop.is_some_and(|stop| now >= stop) {
            self.stopped = true;
            self.timer = None;
        }
        self.started && !self.stopped && !self.is_done()
    }

    /// Payload length of the segment at `offset`.
    fn segment_len(&self, offset: u64) -> u64 {
        self.mss.min(self.end - offset)
    }

    /// A datagram arrived; anything but a model ACK is ignored.
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        let Some(Segment::Ack { next, sack }) = wire::decode(data) else {
            return;
        };
        if !self.active(now) || next > self.max {
            return;
        }
        if let Some(state) = self.sack.take() {
            let state = self.on_sack_ack(now, next, &sack, state);
            self.sack = Some(state);
            return;
        }
        if next > self.una {
            let acked = self.advance_una(now, next);
            let reaction = self.window.on_new_ack(acked, self.una, self.max);
            if reaction.partial {
                self.stats.partial_acks += 1;
            }
            self.retransmit_first |= reaction.retransmit_first;
            if self.una == self.max {
                self.timer = None;
            } else if reaction.restart_timer {
                self.timer = Some(now + self.rto.timeout());
            }
        } else if next == self.una && self.una < self.max {
            let reaction = self.window.on_dup_ack(self.una, self.max);
            if reaction.entered_recovery {
                self.stats.fast_recoveries += 1;
            }
            self.retransmit_first |= reaction.retransmit_first;
        }
    }

    /// A cumulative ACK moved the first unacknowledged byte to `next`: clears the backoff and
    /// takes the RTT sample of the timed segment if it is covered. Returns the bytes acked.
    fn advance_una(&mut self, now: Instant, next: u64) -> u64 {
        let acked = next - self.una;
        self.una = next;
        self.nxt = self.nxt.max(next);
        self.backoffs = 0;
        if let Some((end, sent)) = self.timing {
            if next >= end {
                self.rto.sample(now - sent);
                self.timing = None;
            }
        }
        acked
    }

    /// Index of the segment starting at `offset` (or, at the end of a limited flow, one past the
    /// last).
    fn index(&self, offset: u64) -> u64 {
        offset.div_ceil(self.mss)
    }

    /// RFC 6675's processing of an ACK of `next` with `blocks`.
    fn on_sack_ack(
        &mut self,
        now: Instant,
        next: u64,
        blocks: &SackBlocks,
        mut state: Box<SackState>,
    ) -> Box<SackState> {
        let advanced = next > self.una;
        if advanced {
            let acked = self.advance_una(now, next);
            state.board.advance(self.index(next));
            state.dup_acks = 0;
            let recovering = self.window.in_recovery();
            if recovering && !self.window.on_sack_new_ack(acked, next) {
                self.stats.partial_acks += 1;
            } else if !recovering {
                self.window.on_sack_new_ack(acked, next);
            }
            // RFC 6298 section 5.3 (and 5.2 once everything is acknowledged).
            self.timer = (self.una < self.max).then(|| now + self.rto.timeout());
        }
        // Update(): blocks outside the outstanding data are ignored; a block's edges are those
        // of whole segments, the last one of a limited flow included.
        let mut fresh = 0;
        for &(start, end) in blocks.as_slice() {
            if start < self.una || end > self.max {
                continue;
            }
            let last = if end == self.max {
                self.index(end)
            } else {
                end / self.mss
            };
            fresh += state.board.mark(self.index(start), last);
        }
        if !advanced && next == self.una && self.una < self.max && fresh > 0 {
            state.dup_acks += 1;
        }
        let first = self.index(self.una);
        if self.una < self.max && self.window.may_enter_sack_recovery(self.una) {
            let lost = state.board.lost_below() > first;
            if state.dup_acks >= DUP_THRESH || lost {
                // Steps 4.1 to 4.3: the segment at the cumulative ACK goes out first.
                self.window.enter_sack_recovery(self.una, self.max);
                self.stats.fast_recoveries += 1;
                state.rxt_next = first;
                self.retransmit_first = true;
                self.timing = None;
            }
        }
        if self.window.in_recovery() {
            state.pipe = self.set_pipe(&state);
        }
        state
    }

    /// RFC 6675's `SetPipe()`: every unSACKed segment counts once unless it is lost, and once
    /// more if it was retransmitted in this episode.
    fn set_pipe(&self, state: &SackState) -> u64 {
        let lost_below = state.board.lost_below();
        let mut pipe = 0;
        let mut offset = self.una;
        let mut index = self.index(offset);
        while offset < self.max {
            let len = self.segment_len(offset);
            if !state.board.is_sacked(index) {
                if index >= lost_below {
                    pipe += len;
                }
                if index < state.rxt_next {
                    pipe += len;
                }
            }
            offset += len;
            index += 1;
        }
        pipe
    }

    /// The retransmission timer fired: collapse the window and go back to the first
    /// unacknowledged byte (RFC 6298 section 5.4 to 5.6; RFC 5681 section 3.1).
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.active(now) {
            self.timer = None;
            return;
        }
        if self.timer.is_none_or(|at| at > now) {
            return;
        }
        self.stats.timeouts += 1;
        self.window
            .on_timeout(self.una, self.max, self.backoffs > 0);
        self.backoffs += 1;
        self.rto.back_off();
        self.nxt = self.una;
        self.retransmit_first = false;
        self.timing = None;
        self.timer = Some(now + self.rto.timeout());
        if let Some(state) = &mut self.sack {
            // RFC 6675 section 5.1: the episode is over; the scoreboard stays.
            state.dup_acks = 0;
            state.pipe = 0;
        }
    }

    /// Offset of the next segment to send, NewReno's way; `None` when the window is full.
    fn next_plain(&mut self) -> Option<u64> {
        if self.retransmit_first {
            self.retransmit_first = false;
            return Some(self.una);
        }
        if self.nxt >= self.end {
            return None;
        }
        let len = self.segment_len(self.nxt);
        if self.nxt - self.una + len > self.window.cwnd() {
            return None;
        }
        Some(self.nxt)
    }

    /// Offset of the next segment to send with SACK on, with `pipe` and `HighRxt` updated for
    /// it; `None` when the window is full.
    fn next_sack(&mut self, state: &mut SackState) -> Option<u64> {
        let cwnd = self.window.cwnd();
        if !self.window.in_recovery() {
            // Outside recovery, and while going back after a timeout: skip what was SACKed,
            // count only the unSACKed bytes as in flight.
            while self.nxt < self.max && state.board.is_sacked(self.index(self.nxt)) {
                self.nxt += self.segment_len(self.nxt);
            }
            if self.nxt >= self.end {
                return None;
            }
            let sacked = if self.nxt == self.max {
                state.board.count()
            } else {
                state
                    .board
                    .count_between(self.index(self.una), self.index(self.nxt))
            };
            let flight = (self.nxt - self.una).saturating_sub(sacked * self.mss);
            return (flight + self.segment_len(self.nxt) <= cwnd).then_some(self.nxt);
        }
        let first = self.index(self.una);
        let offset = if self.retransmit_first {
            // Step 4.3, whatever the window.
            self.retransmit_first = false;
            self.una
        } else {
            // Step C: only while cwnd - pipe >= 1 SMSS.
            if state.pipe + self.mss > cwnd {
                return None;
            }
            let lost_below = state.board.lost_below();
            let max_index = self.index(self.max);
            let unsacked = |from: u64, to: u64| (from..to).find(|&i| !state.board.is_sacked(i));
            let from = state.rxt_next.max(first);
            if let Some(lost) = unsacked(from, lost_below.max(from)) {
                // Rule 1: a lost segment above HighRxt.
                lost * self.mss
            } else if self.nxt < self.end {
                // Rule 2: new data.
                self.nxt
            } else {
                // Rule 3: any unSACKed segment above HighRxt.
                unsacked(from.max(lost_below), max_index)? * self.mss
            }
        };
        if offset < self.max {
            state.rxt_next = self.index(offset) + 1;
        }
        state.pipe += self.segment_len(offset);
        Some(offset)
    }

    /// The next data datagram the window allows, written into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if !self.active(now) {
            return None;
        }
        let offset = match self.sack.take() {
            None => self.next_plain(),
            Some(mut state) => {
                let offset = self.next_sack(&mut state);
                self.sack = Some(state);
                offset
            }
        }?;
        let len = self.segment_len(offset);
        let end = offset + len;
        if offset < self.max {
            self.stats.retransmits += 1;
            // Karn's rule: nothing sent twice is timed, and the segment being timed is given up,
            // its ACK now waiting on this retransmission.
            self.timing = None;
        } else if self.timing.is_none() && !(self.has_sack() && self.window.in_recovery()) {
            self.timing = Some((end, now));
        }
        if offset == self.nxt {
            self.nxt = end;
        }
        self.max = self.max.max(end);
        self.stats.segments_sent += 1;
        if self.timer.is_none() {
            self.timer = Some(now + self.rto.timeout());
        }
        Some(Transmit {
            destination: self.peer,
            len: wire::write_data(buf, offset, len as usize),
            dont_fragment: false,
            connection: None,
        })
    }

    /// When the sender next needs [`RenoSender::handle_timeout`]: its start, then its
    /// retransmission timer or its stop, whichever comes first.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_done() || self.stopped {
            return None;
        }
        if !self.started {
            return Some(self.start);
        }
        match (self.timer, self.stop) {
            (Some(timer), Some(stop)) => Some(timer.min(stop)),
            (timer, stop) => timer.or(stop),
        }
    }
}
