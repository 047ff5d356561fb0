//! Many connections on one endpoint.

use crate::harness::*;
use std::time::Duration;
use utp::sim::app::Plan;

#[test]
fn a_thousand_concurrent_connections_each_moving_64_kib() {
    const CONNS: usize = 1000;
    const BYTES: u64 = 64 * 1024;
    let link = delay_ms(10).then(utp::sim::Impairment::Bottleneck {
        rate: 125_000_000,
        queue: 8_000_000,
    });
    // One client host opening all its connections at once: the per-address and half-open
    // limits (defences against hostile peers, see tests/scenarios/flood.rs) are lifted.
    let config = utp::proto::Config {
        max_connections_per_ip: CONNS,
        max_half_open: CONNS,
        ..utp::proto::Config::default()
    };
    let mut pair = Pair::new("1000 connections x 64 KiB", 40, config, link.clone(), link);
    pair.sim.node_mut(pair.b).accept_plan = Some(Plan::transfer(0, SEED_B, BYTES, SEED_A));
    let to = addr_b();
    pair.sim.with_node(pair.a, |node, now| {
        for _ in 0..CONNS {
            node.connect(now, to, Plan::transfer(BYTES, SEED_A, 0, SEED_B));
        }
    });
    let (a, b) = (pair.a, pair.b);
    let deadline = pair.sim.now() + Duration::from_secs(120);
    let done = pair.sim.run_until(deadline, |sim| {
        let closed = |i: usize| {
            sim.node(i).conns.len() == CONNS
                && sim.node(i).conns.values().all(|c| c.closed_at.is_some())
        };
        closed(a) && closed(b)
    });
    assert!(done, "not every connection finished");
    for c in pair.b().conns.values() {
        assert!(c.errors.is_empty());
        assert!(c.received_all(), "received {} of {BYTES}", c.received);
    }
    for c in pair.a().conns.values() {
        assert!(c.errors.is_empty());
    }
    println!(
        "scenario {:<40} bytes {:>10}  virtual {:>9.3} s",
        "1000 connections x 64 KiB",
        CONNS as u64 * BYTES,
        pair.sim.now().as_micros() as f64 / 1e6
    );
}
