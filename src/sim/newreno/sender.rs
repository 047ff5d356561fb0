//! The model's bulk sender: MSS-sized segments, a NewReno window ([`super::window`]), an RFC 6298
//! retransmission timer ([`super::rto`]) with go-back-N after it fires, and RTT samples timed on
//! one segment at a time with Karn's rule (no sample across a retransmission).
//!
//! The sender is idle before its start time, transmits nothing at all (not even retransmissions)
//! from its stop time on, and ends on its own once a byte limit, if any, is acknowledged. It sends
//! whatever the window allows at once, unpaced, as an ACK-clocked TCP without pacing does.

use super::rto::Rto;
use super::window::Window;
use super::wire::{self, Segment, HEADER_LEN};
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
    /// Fast recoveries entered (each begins with one fast retransmit).
    pub fast_recoveries: u64,
    /// Partial ACKs handled during fast recovery.
    pub partial_acks: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
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
            stats: RenoStats::default(),
        }
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
        let Some(Segment::Ack { next }) = wire::decode(data) else {
            return;
        };
        if !self.active(now) || next > self.max {
            return;
        }
        if next > self.una {
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
    }

    /// The next data datagram the window allows, written into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if !self.active(now) {
            return None;
        }
        let offset = if self.retransmit_first {
            self.retransmit_first = false;
            self.una
        } else {
            if self.nxt >= self.end {
                return None;
            }
            let len = self.segment_len(self.nxt);
            if self.nxt - self.una + len > self.window.cwnd() {
                return None;
            }
            self.nxt
        };
        let len = self.segment_len(offset);
        let end = offset + len;
        if offset < self.max {
            self.stats.retransmits += 1;
            // Karn's rule: nothing sent twice is timed, and the segment being timed is given up,
            // its ACK now waiting on this retransmission.
            self.timing = None;
        } else if self.timing.is_none() {
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
