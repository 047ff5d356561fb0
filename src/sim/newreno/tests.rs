//! The NewReno model end to end in the simulator: scripted losses and what repairs them.

use super::*;
use crate::sim::{LinkConfig, Sim, Verdict};
use core::time::Duration;

const MS: Duration = Duration::from_millis(1);

fn a() -> SocketAddr {
    "10.0.0.1:1".parse().unwrap()
}

fn b() -> SocketAddr {
    "10.0.0.2:1".parse().unwrap()
}

/// A sender at A and a receiver at B, 10 ms apart each way; data indices on A -> B listed in
/// `drop` are lost (only those first transmissions: a retransmission has a later index).
fn flow(sender: RenoSender, drop: &'static [u64]) -> Sim<RenoNode> {
    flow_to(sender, RenoReceiver::new(), drop.to_vec())
}

/// [`flow`] with a chosen receiver and any list of losses.
fn flow_to(sender: RenoSender, receiver: RenoReceiver, drop: Vec<u64>) -> Sim<RenoNode> {
    let mut sim = Sim::new(7);
    sim.add_node(a(), RenoNode::Sender(sender));
    sim.add_node(b(), RenoNode::Receiver(receiver));
    sim.set_default_link(LinkConfig::new().delay(10 * MS));
    sim.add_hook(move |info| {
        if info.from == a() && drop.contains(&info.index) {
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    });
    sim
}

#[test]
fn a_lossless_limited_flow_delivers_everything_and_goes_quiet() {
    let mut sim = flow(RenoSender::new(b(), 1402).limited_to(1_000_000), &[]);
    sim.run_for(Duration::from_secs(5));
    let s = sim.node(0).sender();
    assert!(s.is_done());
    assert_eq!(sim.node(1).receiver().delivered(), 1_000_000);
    assert_eq!(s.stats().retransmits, 0);
    assert_eq!(s.mss(), 1382);
    let rtt = s.srtt().expect("measured");
    assert!(rtt >= 20 * MS && rtt < 25 * MS, "{rtt:?}");
    assert_eq!(sim.next_event(), None, "nothing left to do");
}

#[test]
fn fast_recovery_with_partial_acks_repairs_three_losses_in_one_window_without_a_timeout() {
    // 10 segments go out first; their ACKs release indices 10..30 in the next round trip, so
    // 20, 23 and 26 are lost from one window.
    let mut sim = flow(
        RenoSender::new(b(), 1402).limited_to(100 * 1382),
        &[20, 23, 26],
    );
    sim.run_for(Duration::from_secs(2));
    let s = sim.node(0).sender();
    assert_eq!(sim.node(1).receiver().delivered(), 100 * 1382);
    assert!(s.is_done());
    let stats = s.stats();
    assert_eq!(stats.timeouts, 0, "{stats:?}");
    assert_eq!(stats.fast_recoveries, 1, "{stats:?}");
    assert_eq!(stats.partial_acks, 2, "{stats:?}");
    assert_eq!(stats.retransmits, 3, "exactly the lost segments: {stats:?}");
    // Half of what was outstanding at the third duplicate ACK (at most the 30 segments sent).
    assert!(s.ssthresh() <= 15 * 1382, "{}", s.ssthresh());
}

#[test]
fn a_lost_retransmission_is_repaired_by_the_timer_with_backoff() {
    // Segment 0 is lost, and so are its fast retransmission and the first timeout's.
    let mut sim: Sim<RenoNode> = Sim::new(8);
    sim.add_node(
        a(),
        RenoNode::Sender(RenoSender::new(b(), 1402).limited_to(20 * 1382)),
    );
    sim.add_node(b(), RenoNode::Receiver(RenoReceiver::new()));
    sim.set_default_link(LinkConfig::new().delay(10 * MS));
    // Every transmission of offset 0 is lost until 1.5 s.
    sim.add_hook(move |info| {
        let first = matches!(
            wire::decode(info.data),
            Some(wire::Segment::Data { offset: 0, .. })
        );
        if info.from == a() && first && info.now.as_micros() < 1_500_000 {
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    });
    sim.run_for(Duration::from_secs(10));
    let s = sim.node(0).sender();
    assert!(s.is_done());
    assert_eq!(sim.node(1).receiver().delivered(), 20 * 1382);
    let stats = s.stats();
    // Initial RTO 1 s: fast retransmit at ~20 ms lost, timeout at ~1 s lost, backed off to 2 s.
    assert_eq!(stats.fast_recoveries, 1, "{stats:?}");
    assert_eq!(stats.timeouts, 2, "{stats:?}");
    assert!(sim.now() >= Instant::from_micros(3_000_000));
}

#[test]
fn nothing_is_sent_before_the_start_or_after_the_stop() {
    let start = Instant::from_micros(500_000);
    let stop = Instant::from_micros(1_000_000);
    let mut sim = flow(
        RenoSender::new(b(), 1402)
            .starting_at(start)
            .stopping_at(stop),
        &[],
    );
    // 10 Mbit/s with a 100 ms queue, so that the endless flow's window meets a limit.
    sim.set_link(
        a(),
        b(),
        LinkConfig::new()
            .bottleneck(1_250_000, 125_000)
            .delay(10 * MS),
    );
    sim.run_for(Duration::from_millis(499));
    assert_eq!(sim.link_stats(a(), b()).sent, 0);
    sim.run_for(Duration::from_millis(501));
    let sent = sim.link_stats(a(), b()).sent;
    assert!(sent > 100, "{sent}");
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.link_stats(a(), b()).sent, sent, "silent after the stop");
    assert_eq!(sim.next_event(), None);
    assert!(sim.node(1).receiver().delivered() > 0);
}

/// Segments of the flow in the scattered-loss tests.
const SEGMENTS: u64 = 1000;

/// Slow start from 10 segments sends rounds of 10, 20, 40, 80 and 160 segments on the lossless
/// 20 ms path; every third segment of the fifth round, from index 150 on, is lost: 50 holes in
/// one window.
fn fifty_scattered_losses() -> Vec<u64> {
    (0..50).map(|k| 150 + 3 * k).collect()
}

/// Runs a `SEGMENTS`-segment flow with the losses of [`fifty_scattered_losses`] in 1 ms steps;
/// returns the sender's end state and when it was first and last in recovery.
fn run_scattered(sack: bool) -> (RenoSender, Option<(Instant, Instant)>) {
    let mut sender = RenoSender::new(b(), 1402).limited_to(SEGMENTS * 1382);
    let mut receiver = RenoReceiver::new();
    if sack {
        sender = sender.with_sack();
        receiver = receiver.with_sack();
    }
    let mut sim = flow_to(sender, receiver, fifty_scattered_losses());
    let mut recovery: Option<(Instant, Instant)> = None;
    while sim.now() < Instant::from_micros(20_000_000) && !sim.node(0).sender().is_done() {
        sim.run_for(MS);
        if sim.node(0).sender().in_recovery() {
            let now = sim.now();
            recovery = Some(recovery.map_or((now, now), |(first, _)| (first, now)));
        }
    }
    assert_eq!(sim.node(1).receiver().delivered(), SEGMENTS * 1382);
    (sim.node(0).sender().clone(), recovery)
}

#[test]
fn with_sack_fifty_losses_in_one_window_are_repaired_in_two_round_trips_without_a_timeout() {
    let (s, recovery) = run_scattered(true);
    assert!(s.is_done());
    let stats = s.stats();
    assert_eq!(stats.timeouts, 0, "{stats:?}");
    assert_eq!(
        stats.fast_recoveries, 1,
        "one episode, one reduction: {stats:?}"
    );
    assert_eq!(
        stats.retransmits, 50,
        "exactly the lost segments: {stats:?}"
    );
    let (first, last) = recovery.expect("recovery happened");
    // The RTT is 20 ms: one to send every retransmission cwnd - pipe allows, one more for the
    // rest and their ACKs.
    let took = last - first;
    assert!(took <= 2 * 20 * MS, "recovery took {took:?}");
    // Halved once, from the flight when the loss was detected (the fifth round, 160 segments, and
    // what its first ACKs released).
    assert!(s.ssthresh() <= 155 * 1382, "{}", s.ssthresh());
    assert!(s.ssthresh() >= 60 * 1382, "{}", s.ssthresh());
}

#[test]
fn without_sack_the_same_losses_take_a_round_trip_per_hole_or_a_timeout() {
    let (s, recovery) = run_scattered(false);
    let stats = s.stats();
    let (first, last) = recovery.expect("recovery happened");
    // NewReno repairs one hole per partial ACK, one round trip each, unless the timer (reset on
    // the first partial ACK only) fires first and goes back over the whole window.
    assert!(
        stats.timeouts > 0 || last - first >= 40 * 20 * MS,
        "{stats:?}, recovery {:?}",
        last - first
    );
}
