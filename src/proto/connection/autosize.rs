//! Send and receive buffers that follow the bandwidth-delay product, between the configured
//! starting sizes ([`Config::send_buffer`], [`Config::recv_buffer`]) and their caps
//! ([`Config::max_send_buffer`], [`Config::max_recv_buffer`]).
//!
//! * Send side: the buffer is twice the congestion window (what is in flight plus as much
//!   again queued behind it, so the application refilling it never idles the path; Linux sizes
//!   `sk_sndbuf` the same way), never below the starting size.
//! * Receive side (dynamic right-sizing, as Linux TCP's `tcp_rcv_space_adjust`): every round
//!   trip the bytes the application read are counted; when twice that exceeds the buffer, the
//!   buffer grows to it. A sender limited by our window delivers a full window per round trip,
//!   and a reader that keeps up takes it, so the buffer doubles each round trip alongside the
//!   sender's slow start; a slow reader leaves it where it is (counting arrivals instead would
//!   let a peer fill 32 MiB of unread data). The buffer never shrinks (the peer may already be
//!   sending into what we advertised).
//!
//! The receiver rarely has an RTT sample of its own (it sends only ACKs, which are never
//! acknowledged), so the round trip is read from the timestamps both sides already exchange:
//! the one-way delay we measure on the peer's packet (our receive time minus its timestamp)
//! plus the one it reports for ours (`timestamp_difference`); the clock offset between the two
//! hosts cancels out of the sum, and queueing in both directions is included, which is what
//! the window has to cover.
//!
//! [`Config::send_buffer`]: crate::proto::Config::send_buffer
//! [`Config::recv_buffer`]: crate::proto::Config::recv_buffer
//! [`Config::max_send_buffer`]: crate::proto::Config::max_send_buffer
//! [`Config::max_recv_buffer`]: crate::proto::Config::max_recv_buffer

use super::Connection;
use crate::proto::time::Instant;
use core::time::Duration;

/// The receive buffer grows to this many times the bytes that arrived in one round trip: 2,
/// as Linux's receive autotuning (room for the sender to double its window in slow start).
pub const RECV_GROWTH_FACTOR: usize = 2;

/// The send buffer is this many times the congestion window: 2, as Linux's `tcp_sndbuf_expand`.
pub const SEND_BUFFER_FACTOR: usize = 2;

/// A round trip read from the timestamps above this is not believed (a clock stepped between
/// the two samples). Our own choice: the longest plausible path with a full queue.
const MAX_TIMESTAMP_RTT: Duration = Duration::from_secs(10);

/// The receive side's measurement of one round trip.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RecvTuner {
    /// When the current round trip's count began.
    start: Option<Instant>,
    /// [`Connection::bytes_read`] when it began.
    read_at_start: u64,
}

impl Connection {
    /// The send buffer's current size: [`SEND_BUFFER_FACTOR`] times the congestion window,
    /// within the configured start and cap.
    pub(super) fn send_buffer_size(&self) -> usize {
        let cap = self.config.send_buffer_cap();
        self.cc
            .window()
            .saturating_mul(SEND_BUFFER_FACTOR)
            .clamp(self.config.send_buffer.min(cap), cap)
    }

    /// The round trip as the timestamps of the packet just received show it: `reply_micro`
    /// (our clock at arrival minus the peer's at sending) plus the peer's `timestamp_diff` (its
    /// clock when our last packet arrived minus ours when we sent it). `None` when the peer has
    /// not reported a difference yet or the sum is implausible.
    pub(super) fn timestamp_rtt(&self, peer_diff: u32) -> Option<Duration> {
        if peer_diff == 0 || self.reply_micro == 0 {
            return None;
        }
        let sum = self.reply_micro.wrapping_add(peer_diff) as i32;
        let rtt = Duration::from_micros(u64::try_from(sum).ok()?);
        (rtt <= MAX_TIMESTAMP_RTT).then_some(rtt)
    }

    /// Called when a data packet arrives: when a round trip is complete and the application
    /// read more than half the buffer in it, grows the buffer. `peer_diff` is the packet's
    /// `timestamp_difference`.
    pub(super) fn autotune_recv(&mut self, now: Instant, peer_diff: u32) {
        let cap = self.config.recv_buffer_cap();
        if self.recv.capacity() >= cap {
            return;
        }
        let Some(rtt) = self.timestamp_rtt(peer_diff).or(self.rtt.srtt()) else {
            return;
        };
        let Some(start) = self.recv_tuner.start else {
            self.recv_tuner = RecvTuner {
                start: Some(now),
                read_at_start: self.bytes_read,
            };
            return;
        };
        if now.saturating_duration_since(start) < rtt {
            return;
        }
        let read =
            usize::try_from(self.bytes_read - self.recv_tuner.read_at_start).unwrap_or(usize::MAX);
        let wanted = read.saturating_mul(RECV_GROWTH_FACTOR);
        self.recv_tuner = RecvTuner {
            start: Some(now),
            read_at_start: self.bytes_read,
        };
        if wanted > self.recv.capacity() {
            self.recv.grow_to(wanted.min(cap));
            log::debug!(
                "receive buffer of connection {} grown to {} bytes",
                self.recv_id,
                self.recv.capacity()
            );
        }
    }
}
