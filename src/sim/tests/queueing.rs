//! The bottleneck queue (rate, queuing delay, tail drop) and the MTU limit.

use super::toys::*;
use crate::sim::{LinkConfig, Sim};
use core::time::Duration;

const MS: Duration = Duration::from_millis(1);

#[test]
fn a_saturated_bottleneck_delivers_at_its_rate_and_drops_the_tail() {
    // 1000-byte datagrams offered at 2 MB/s into 1 MB/s with room for 20 of them, for 2 s.
    let rate = 1_000_000;
    let mut sim = one_way(
        21,
        steady(4000, 1000, MS / 2),
        LinkConfig::new().bottleneck(rate, 20_000).delay(5 * MS),
    );
    run_out(&mut sim);
    let s = sim.link_stats(A, B);
    assert_eq!(s.dropped_queue + s.delivered, s.sent);
    assert!(s.dropped_queue > 1900, "{s:?}");
    let times: Vec<u64> = sim
        .node(1)
        .received()
        .map(|(t, ..)| t.as_micros())
        .collect();
    // Back to back: one datagram per millisecond, exactly.
    assert!(
        times.windows(2).all(|w| w[1] - w[0] == 1000),
        "{:?}",
        &times[..10]
    );
    let span = (times[times.len() - 1] - times[0]) as f64 / 1e6;
    let throughput = (s.delivered_bytes - 1000) as f64 / span;
    assert!((throughput - rate as f64).abs() < 1.0, "{throughput} B/s");
    // Queuing delay is bounded by the queue: 20 ms to drain plus the 5 ms propagation.
    for (t, _, data) in sim.node(1).received() {
        let sent = u64::from(number(data)) * 500;
        assert!(
            t.as_micros() - sent <= 25_000 + 1000,
            "datagram {} waited {}",
            number(data),
            t.as_micros() - sent
        );
    }
}

#[test]
fn a_bottleneck_below_capacity_only_adds_serialisation_time() {
    // 500 bytes every 2 ms is 250 kB/s, under 1 MB/s: no queue builds.
    let mut sim = one_way(
        22,
        steady(100, 500, 2 * MS),
        LinkConfig::new().bottleneck(1_000_000, 1500),
    );
    run_out(&mut sim);
    assert_eq!(sim.link_stats(A, B).dropped_queue, 0);
    for (t, _, data) in sim.node(1).received() {
        assert_eq!(t.as_micros(), u64::from(number(data)) * 2000 + 500);
    }
}

#[test]
fn a_bottleneck_after_jitter_serves_datagrams_in_arrival_order() {
    let config = LinkConfig::new()
        .jitter(10 * MS)
        .bottleneck(100_000, 100_000);
    let mut sim = one_way(23, steady(200, 100, MS / 10), config);
    run_out(&mut sim);
    let times: Vec<u64> = sim
        .node(1)
        .received()
        .map(|(t, ..)| t.as_micros())
        .collect();
    // The queue never holds two datagrams at once on the wire: departures are >= 1 ms apart.
    assert!(times.windows(2).all(|w| w[1] - w[0] >= 1000), "{times:?}");
    let numbers = sim.node(1).numbers();
    assert!(
        numbers.windows(2).any(|w| w[0] > w[1]),
        "jitter upstream should reorder"
    );
}

#[test]
fn the_mtu_drops_only_longer_datagrams() {
    let mut sim = Sim::new(24);
    sim.add_node(A, Toy::sink());
    sim.add_node(B, Toy::sink());
    sim.set_link(A, B, LinkConfig::new().mtu(1400));
    sim.with_node(0, |a, _| {
        for (n, len) in [(0, 1399), (1, 1400), (2, 1401), (3, 9000), (4, 4)] {
            a.outbox.push_back((B, numbered(n, len)));
        }
    });
    run_out(&mut sim);
    assert_eq!(sim.node(1).numbers(), [0, 1, 4]);
    assert_eq!(sim.link_stats(A, B).dropped_mtu, 2);
}
