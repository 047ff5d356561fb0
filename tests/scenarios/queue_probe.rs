//! A mirror of the A→B bottleneck queue, for scenarios that measure the queueing delay a flow
//! causes.

use crate::harness::addr_a;
use std::cell::RefCell;
use std::rc::Rc;
use utp::proto::Instant;
use utp::sim::{Node, Sim, Verdict};

/// A copy of the A→B bottleneck's FIFO fed from a hook: the queueing delay each datagram from A
/// meets, with its send time.
#[derive(Default)]
pub struct QueueProbe {
    busy_until_us: f64,
    /// (send time, queueing delay in ms) of every datagram the queue accepted.
    pub samples: Vec<(Instant, f64)>,
    /// Datagrams the mirrored queue would tail-drop.
    pub drops: u64,
}

impl QueueProbe {
    pub fn install<N: Node>(sim: &mut Sim<N>, rate: u64, queue: u64) -> Rc<RefCell<QueueProbe>> {
        let probe = Rc::new(RefCell::new(QueueProbe::default()));
        let p = probe.clone();
        let from = addr_a();
        sim.add_hook(move |info| {
            if info.from != from {
                return Verdict::Pass;
            }
            let mut p = p.borrow_mut();
            let t = info.now.as_micros() as f64;
            p.busy_until_us = p.busy_until_us.max(t);
            let wait_us = p.busy_until_us - t;
            if wait_us * rate as f64 / 1e6 + info.data.len() as f64 > queue as f64 {
                p.drops += 1;
            } else {
                p.busy_until_us += info.data.len() as f64 * 1e6 / rate as f64;
                p.samples.push((info.now, wait_us / 1e3));
            }
            Verdict::Pass
        });
        probe
    }

    /// Mean queueing delay (ms) of the datagrams sent in `[from, to)`; 0 when none was.
    pub fn mean_between(&self, from: Instant, to: Instant) -> f64 {
        let start = self.samples.partition_point(|(t, _)| *t < from);
        let end = self.samples.partition_point(|(t, _)| *t < to);
        let window = &self.samples[start..end];
        if window.is_empty() {
            0.0
        } else {
            window.iter().map(|(_, d)| d).sum::<f64>() / window.len() as f64
        }
    }
}
