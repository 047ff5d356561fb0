//! Steady state reuses datagram buffers instead of allocating.

use super::toys::*;
use crate::sim::{LinkConfig, Sim};
use core::time::Duration;

#[test]
fn bouncing_datagrams_reuse_their_buffers() {
    let mut sim = Sim::new(61);
    sim.add_node(A, Toy::echo());
    sim.add_node(B, Toy::echo());
    sim.set_default_link(
        LinkConfig::new()
            .delay(Duration::from_millis(1))
            .jitter(Duration::from_micros(300)),
    );
    sim.with_node(0, |a, _| {
        (0..10).for_each(|n| a.outbox.push_back((B, numbered(n, 1200))))
    });
    sim.run_for(Duration::from_secs(1));
    let delivered = sim.total_stats().delivered;
    assert!(delivered > 7000, "{delivered}");
    assert_eq!(sim.in_flight(), 10);
    assert!(
        sim.buffers_allocated() <= 10,
        "{} buffers",
        sim.buffers_allocated()
    );
}
