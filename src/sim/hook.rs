//! Scripted interference: hooks see every datagram before its link's impairments and may drop
//! or hold it.
//!
//! Hooks run in the order they were added. The first [`Verdict::Drop`] ends the datagram; the
//! delays of [`Verdict::Delay`] add up.

use crate::proto::time::Instant;
use core::time::Duration;
use std::net::SocketAddr;

/// What a hook sees of one datagram as it is sent.
#[derive(Debug, Clone, Copy)]
pub struct HookInfo<'a> {
    /// The sending node's address.
    pub from: SocketAddr,
    /// The destination address.
    pub to: SocketAddr,
    /// Position of this datagram among all sent on the `from` → `to` direction, from 0.
    pub index: u64,
    /// The datagram as sent.
    pub data: &'a [u8],
    /// When it was sent.
    pub now: Instant,
}

/// A hook's decision about one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through to the link.
    Pass,
    /// Drop it; counted as [`LinkStats::dropped_hook`](super::LinkStats::dropped_hook).
    Drop,
    /// Hold it this long before it enters the link.
    Delay(Duration),
}

/// A boxed hook as the simulator stores it.
pub(super) type Hook = Box<dyn FnMut(&HookInfo<'_>) -> Verdict>;

/// The hooks of one simulation, in the order added.
#[derive(Default)]
pub(super) struct Hooks {
    list: Vec<Hook>,
}

impl Hooks {
    /// Appends a hook; it runs after those already present.
    pub(super) fn add(&mut self, hook: Hook) {
        self.list.push(hook);
    }

    /// The total hold for this datagram, or `None` when a hook drops it.
    pub(super) fn judge(&mut self, info: &HookInfo<'_>) -> Option<Duration> {
        let mut hold = Duration::ZERO;
        for hook in &mut self.list {
            match hook(info) {
                Verdict::Pass => {}
                Verdict::Drop => return None,
                Verdict::Delay(d) => hold = hold.saturating_add(d),
            }
        }
        Some(hold)
    }

    /// Whether there are no hooks (the hot path then skips building a [`HookInfo`]).
    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}
