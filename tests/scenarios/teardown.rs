//! Teardown: lost FIN, both sides closing at once, RESET mid-transfer, a peer that vanishes.

use crate::harness::*;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use utp::proto::{ConnectionError, Endpoint, Event};
use utp::sim::app::{EndpointNode, Plan};
use utp::sim::Verdict;

#[test]
fn lost_fin_is_retransmitted() {
    let mut pair = Pair::symmetric("teardown: FIN lost", 30, delay_ms(10));
    let dropped = Rc::new(Cell::new(0u32));
    let counter = dropped.clone();
    let from = addr_a();
    pair.sim.add_hook(move |info| {
        if info.from == from && info.data.first() == Some(&0x11) && counter.get() == 0 {
            counter.set(1);
            return Verdict::Drop;
        }
        Verdict::Pass
    });
    pair.start_transfer(300 * 1024, 100 * 1024);
    assert!(pair.run_until_closed(Duration::from_secs(60)));
    assert_eq!(dropped.get(), 1);
    pair.assert_clean_transfer(300 * 1024, 100 * 1024);
}

#[test]
fn both_sides_close_at_the_same_instant() {
    let mut pair = Pair::symmetric("teardown: simultaneous close", 31, delay_ms(10));
    let n = 500 * 1024;
    let mut plan_b = Plan::transfer(n, SEED_B, n, SEED_A);
    plan_b.shutdown_when_sent = false;
    plan_b.close_when_done = false;
    pair.sim.node_mut(pair.b).accept_plan = Some(plan_b);
    let mut plan_a = Plan::transfer(n, SEED_A, n, SEED_B);
    plan_a.shutdown_when_sent = false;
    plan_a.close_when_done = false;
    let to = addr_b();
    let ha = pair
        .sim
        .with_node(pair.a, |node, now| node.connect(now, to, plan_a));
    let (a, b) = (pair.a, pair.b);
    let deadline = pair.sim.now() + Duration::from_secs(30);
    let all_in = pair.sim.run_until(deadline, |sim| {
        sim.node(a).conn(ha).received == n && sim.node(b).conns.values().all(|c| c.received == n)
    });
    assert!(all_in);
    let hb = pair.b().single().0;
    // Both close now, with no FIN exchanged yet.
    pair.sim
        .with_node(a, |node, now| node.endpoint.close(now, ha).unwrap());
    pair.sim
        .with_node(b, |node, now| node.endpoint.close(now, hb).unwrap());
    for (node, h) in [(a, ha), (b, hb)] {
        pair.sim.node_mut(node).kick(h);
    }
    let deadline = pair.sim.now() + Duration::from_secs(30);
    let closed = pair.sim.run_until(deadline, |sim| {
        sim.node(a).conn(ha).closed_at.is_some() && sim.node(b).conn(hb).closed_at.is_some()
    });
    assert!(closed, "both sides closed");
    assert!(pair.a().conn(ha).errors.is_empty());
    assert!(pair.b().conn(hb).errors.is_empty());
    // Both lingering connections go away after the linger time.
    pair.sim.run_for(Duration::from_secs(10));
    assert_eq!(pair.a().endpoint.connection_count(), 0);
    assert_eq!(pair.b().endpoint.connection_count(), 0);
}

#[test]
fn reset_mid_transfer_is_reported_once() {
    let mut pair = Pair::symmetric("teardown: RESET mid-transfer", 32, delay_ms(10));
    let ha = pair.start_transfer(20 * MIB, 20 * MIB);
    pair.run_until_b_received(MIB);
    pair.sim
        .with_node(pair.a, |node, now| node.endpoint.abort(now, ha).unwrap());
    pair.sim.run_for(Duration::from_secs(5));
    let ca = pair.a().conn(ha);
    assert!(ca.errors.is_empty(), "the aborting side reports no error");
    assert!(ca.closed_at.is_some());
    let cb = only(pair.b());
    assert_eq!(
        cb.errors,
        vec![ConnectionError::Reset],
        "the peer hears of the RESET exactly once"
    );
    assert!(cb.closed_at.is_some());
    let resets = pair
        .b()
        .log
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::Error(_)))
        .count();
    assert_eq!(resets, 1);
}

#[test]
fn restarted_peer_answers_with_reset() {
    // B loses all state (a restart): A's next packets reach an endpoint that does not know the
    // connection and is answered with RESET.
    let mut pair = Pair::symmetric("teardown: peer restarted", 33, delay_ms(10));
    let ha = pair.start_transfer(20 * MIB, 0);
    pair.run_until_b_received(MIB);
    *pair.sim.node_mut(pair.b) = EndpointNode::new(Endpoint::new(Default::default(), 99).unwrap());
    pair.sim.run_for(Duration::from_secs(5));
    let ca = pair.a().conn(ha);
    assert_eq!(ca.errors, vec![ConnectionError::Reset]);
    assert!(ca.closed_at.is_some());
    assert!(pair.b().endpoint.stats().resets_sent >= 1);
}

#[test]
fn vanished_peer_times_out_within_the_retransmit_budget() {
    let mut pair = Pair::symmetric("teardown: peer vanished", 34, delay_ms(10));
    let ha = pair.start_transfer(20 * MIB, 0);
    pair.run_until_b_received(MIB);
    let vanished_at = pair.sim.now();
    pair.sim.add_hook(|_| Verdict::Drop);
    pair.sim.run_for(Duration::from_secs(120));
    let ca = pair.a().conn(ha);
    assert_eq!(ca.errors, vec![ConnectionError::TimedOut]);
    let failed_at = pair
        .a()
        .log
        .iter()
        .find(|(_, _, e)| matches!(e, Event::Error(_)))
        .unwrap()
        .0;
    let took = failed_at.saturating_duration_since(vanished_at);
    // Six backed-off timeouts from an RTO of at most about 1 s: well under a minute.
    assert!(
        took < Duration::from_secs(70),
        "timed out only after {took:?}"
    );
    assert!(took > Duration::from_secs(5), "gave up too early: {took:?}");
    assert_eq!(ca.stats.timeouts, 6);
}

#[test]
fn receive_only_side_notices_a_vanished_sender() {
    let mut pair = Pair::symmetric("teardown: sender vanished", 35, delay_ms(10));
    pair.start_transfer(20 * MIB, 0);
    pair.run_until_b_received(MIB);
    let vanished_at = pair.sim.now();
    pair.sim.add_hook(|_| Verdict::Drop);
    pair.sim.run_for(Duration::from_secs(200));
    let cb = only(pair.b());
    assert_eq!(
        cb.errors,
        vec![ConnectionError::TimedOut],
        "B has nothing in flight but still gives up"
    );
    let failed_at = pair
        .b()
        .log
        .iter()
        .find(|(_, _, e)| matches!(e, Event::Error(_)))
        .unwrap()
        .0;
    let idle = utp::proto::Config::default().idle_timeout.unwrap();
    let took = failed_at.saturating_duration_since(vanished_at);
    assert!(
        took >= idle && took < idle + Duration::from_secs(1),
        "gave up after {took:?}"
    );
}
