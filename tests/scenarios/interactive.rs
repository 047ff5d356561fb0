//! Small interactive writes (issue 5: "Nagle and delayed ACK tuned so interactive small writes
//! are not delayed by more than one RTT"): a 100-byte message every 5 ms over a 40 ms round
//! trip. Nagle holds a message while an earlier one is unacknowledged, so a message may wait for
//! that ACK, at most one round trip; the receiver must not add its delayed-ACK timer on top.

use crate::harness::*;
use std::time::Duration;
use utp::proto::Config;
use utp::sim::app::Plan;

/// Message size and spacing.
const MESSAGE: u64 = 100;
const EVERY: Duration = Duration::from_millis(5);
const ONE_WAY: Duration = Duration::from_millis(20);

/// Writes 200 messages from A; returns the largest write-to-read latency.
fn worst_latency(name: &'static str, config: Config) -> Duration {
    let link = delay_ms(ONE_WAY.as_millis() as u64);
    let mut pair = Pair::new(name, 60, config, link.clone(), link);
    let open = |send: u64, seed: u64, peer: u64| Plan {
        send,
        send_seed: seed,
        expect: None,
        expect_seed: peer,
        shutdown_when_sent: false,
        close_when_done: false,
        close_on_error: true,
    };
    pair.sim.node_mut(pair.b).accept_plan = Some(open(0, SEED_B, SEED_A));
    let to = addr_b();
    let h = pair
        .sim
        .with_node(pair.a, |n, now| n.connect(now, to, open(0, SEED_A, SEED_B)));
    pair.sim.run_for(Duration::from_millis(200));
    let step = Duration::from_millis(1);
    let mut written_at = Vec::new();
    let mut worst = Duration::ZERO;
    let mut delivered = 0usize;
    let messages = 200;
    let mut t = Duration::ZERO;
    while delivered < messages {
        if written_at.len() < messages && t.as_millis() % EVERY.as_millis() == 0 {
            let at = pair.sim.with_node(pair.a, |n, now| {
                n.conns.get_mut(&h).unwrap().plan.send += MESSAGE;
                n.kick(h);
                n.pump(now);
                now
            });
            written_at.push(at);
        }
        pair.sim.run_for(step);
        t += step;
        let received = pair.b().single().1.received;
        while delivered < written_at.len() && received >= (delivered as u64 + 1) * MESSAGE {
            let latency = pair
                .sim
                .now()
                .saturating_duration_since(written_at[delivered]);
            worst = worst.max(latency);
            delivered += 1;
        }
        assert!(t < Duration::from_secs(10), "{name}: messages stuck");
    }
    let (_, b) = pair.b().single();
    assert_eq!(b.mismatch_at, None, "{name}: corrupted");
    println!(
        "{name}: worst latency {:.1} ms over {messages} messages (one way {} ms, RTT {} ms)",
        worst.as_secs_f64() * 1e3,
        ONE_WAY.as_millis(),
        2 * ONE_WAY.as_millis()
    );
    worst
}

#[test]
fn nagle_delays_small_writes_by_at_most_one_round_trip() {
    // One-way delay, plus at most one round trip waiting for the ACK Nagle waits for, plus the
    // 1 ms sampling step of this test.
    let bound = ONE_WAY + 2 * ONE_WAY + Duration::from_millis(2);
    for (name, config) in [
        ("interactive, default config", Config::default()),
        (
            "interactive, managed sockets' adaptive ACKs",
            Config {
                ack_every: 8,
                adaptive_ack: true,
                ..Config::default()
            },
        ),
    ] {
        let worst = worst_latency(name, config);
        assert!(worst <= bound, "{name}: {worst:?} > {bound:?}");
    }
}
