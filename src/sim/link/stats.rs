//! Counters for one direction of a link.
//!
//! Every datagram a node sends is, at any moment, counted exactly once as in flight or in one
//! final column, copies included:
//! `sent + duplicated = delivered + lost_* + dropped_* + unroutable + in flight`.

use core::ops::AddAssign;

/// What one direction of a link did with its datagrams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams nodes sent into this direction.
    pub sent: u64,
    /// Datagrams handed to the destination node, copies included.
    pub delivered: u64,
    /// Bytes of those.
    pub delivered_bytes: u64,
    /// Lost to independent random loss.
    pub lost_random: u64,
    /// Lost to burst (Gilbert–Elliott) loss.
    pub lost_burst: u64,
    /// Tail-dropped by a full bottleneck queue.
    pub dropped_queue: u64,
    /// Dropped for exceeding an MTU limit.
    pub dropped_mtu: u64,
    /// Dropped by a hook.
    pub dropped_hook: u64,
    /// Arrived at an address with no node.
    pub unroutable: u64,
    /// Copies made by duplication.
    pub duplicated: u64,
    /// Datagrams that had bits flipped (a copy made afterwards is not counted again).
    pub corrupted: u64,
}

impl AddAssign for LinkStats {
    fn add_assign(&mut self, other: LinkStats) {
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.delivered_bytes += other.delivered_bytes;
        self.lost_random += other.lost_random;
        self.lost_burst += other.lost_burst;
        self.dropped_queue += other.dropped_queue;
        self.dropped_mtu += other.dropped_mtu;
        self.dropped_hook += other.dropped_hook;
        self.unroutable += other.unroutable;
        self.duplicated += other.duplicated;
        self.corrupted += other.corrupted;
    }
}
