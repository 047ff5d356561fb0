//! Connection setup: lost SYN, lost SYN-ACK, lost first data packet, refused and unanswered
//! connects, and simultaneous open.

use crate::harness::*;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use utp::proto::{ConnectionError, Event};
use utp::sim::app::Plan;
use utp::sim::Verdict;

/// Drops the first datagram from `from_a` (A→B if true) whose first byte is `first_byte`.
fn drop_first(pair: &mut Pair, from_a: bool, first_byte: u8) -> Rc<Cell<u32>> {
    let dropped = Rc::new(Cell::new(0));
    let counter = dropped.clone();
    let from = if from_a { addr_a() } else { addr_b() };
    pair.sim.add_hook(move |info| {
        if info.from == from && info.data.first() == Some(&first_byte) && counter.get() == 0 {
            counter.set(1);
            return Verdict::Drop;
        }
        Verdict::Pass
    });
    dropped
}

fn lossy_setup(name: &'static str, from_a: bool, first_byte: u8) -> Summary {
    let mut pair = Pair::symmetric(name, 1, delay_ms(10));
    let dropped = drop_first(&mut pair, from_a, first_byte);
    pair.start_transfer(256 * 1024, 256 * 1024);
    assert!(
        pair.run_until_closed(Duration::from_secs(60)),
        "{name}: did not finish"
    );
    assert_eq!(
        dropped.get(),
        1,
        "{name}: the targeted packet was never sent"
    );
    pair.assert_clean_transfer(256 * 1024, 256 * 1024)
}

#[test]
fn syn_lost_is_retransmitted() {
    let s = lossy_setup("handshake: SYN lost", true, 0x41);
    assert_eq!(s.stats[0].timeouts, 1, "one SYN timeout on the initiator");
}

#[test]
fn syn_ack_lost_is_answered_again_without_a_long_stall() {
    let mut pair = Pair::symmetric("handshake: SYN-ACK lost", 2, delay_ms(10));
    let dropped = drop_first(&mut pair, false, 0x21);
    pair.start_transfer(256 * 1024, 256 * 1024);
    assert!(pair.run_until_closed(Duration::from_secs(60)));
    assert_eq!(dropped.get(), 1);
    // The retransmitted SYN (after the 1 s initial RTO) gets a new SYN-ACK: connected well
    // before libutp's 21 s connect failure.
    let connected = only(pair.a()).connected_at.expect("connected");
    assert!(
        connected.as_micros() < 2_000_000,
        "connected only at {connected:?}"
    );
    pair.assert_clean_transfer(256 * 1024, 256 * 1024);
}

#[test]
fn first_data_packet_lost() {
    lossy_setup("handshake: first data lost", true, 0x01);
}

#[test]
fn refused_connect_reports_refused_once() {
    let mut pair = Pair::symmetric("handshake: refused", 3, delay_ms(10));
    pair.sim.node_mut(pair.b).refuse = true;
    let to = addr_b();
    let h = pair.sim.with_node(pair.a, |n, now| {
        n.connect(now, to, Plan::transfer(10, 1, 0, 2))
    });
    pair.sim.run_for(Duration::from_secs(5));
    let c = pair.a().conn(h);
    assert_eq!(c.errors, vec![ConnectionError::Refused]);
    assert!(c.closed_at.is_some(), "closed after the error");
    assert!(c.connected_at.is_none());
}

#[test]
fn unanswered_connect_times_out_within_the_syn_budget() {
    let mut pair = Pair::symmetric("handshake: no answer", 4, delay_ms(10));
    // B ignores SYNs (no accept plan, no refusal).
    let to = addr_b();
    let h = pair.sim.with_node(pair.a, |n, now| {
        n.connect(now, to, Plan::transfer(10, 1, 0, 2))
    });
    pair.sim.run_for(Duration::from_secs(60));
    let c = pair.a().conn(h);
    assert_eq!(c.errors, vec![ConnectionError::TimedOut]);
    let failed_at = pair
        .a()
        .log
        .iter()
        .find(|(_, _, e)| matches!(e, Event::Error(_)))
        .map(|(t, _, _)| *t)
        .expect("error logged");
    // SYNs at 0, 1, 3, 7, 15 s; failure when the fifth times out at 31 s.
    assert!(
        (30_000_000..=32_000_000).contains(&failed_at.as_micros()),
        "failed at {failed_at:?}"
    );
    assert_eq!(c.stats.timeouts, 4);
}

#[test]
fn simultaneous_open_gives_two_distinct_connections() {
    let mut pair = Pair::symmetric("handshake: simultaneous open", 5, delay_ms(15));
    let n = 200 * 1024;
    // A→B connection: A sends seed 1, B answers seed 2. B→A connection: B sends 3, A answers 4.
    pair.sim.node_mut(pair.a).accept_plan = Some(Plan::transfer(n, 4, n, 3));
    pair.sim.node_mut(pair.b).accept_plan = Some(Plan::transfer(n, 2, n, 1));
    let (to_b, to_a) = (addr_b(), addr_a());
    pair.sim.with_node(pair.a, |node, now| {
        node.connect(now, to_b, Plan::transfer(n, 1, n, 2))
    });
    pair.sim.with_node(pair.b, |node, now| {
        node.connect(now, to_a, Plan::transfer(n, 3, n, 4))
    });
    let deadline = pair.sim.now() + Duration::from_secs(60);
    let (a, b) = (pair.a, pair.b);
    let done = pair.sim.run_until(deadline, |sim| {
        [a, b].iter().all(|&i| {
            sim.node(i).conns.len() == 2
                && sim.node(i).conns.values().all(|c| c.closed_at.is_some())
        })
    });
    assert!(done, "simultaneous open did not complete");
    for node in [pair.a(), pair.b()] {
        for c in node.conns.values() {
            assert!(c.errors.is_empty(), "errors {:?}", c.errors);
            assert!(
                c.received_all(),
                "received {} of {n}, mismatch {:?}",
                c.received,
                c.mismatch_at
            );
        }
    }
}

#[test]
fn idle_connection_sends_keepalives_and_stays_up() {
    let mut pair = Pair::symmetric("idle: keepalives", 6, delay_ms(10));
    let mut plan = Plan::transfer(1000, SEED_A, 1000, SEED_B);
    plan.shutdown_when_sent = false;
    plan.close_when_done = false;
    let mut plan_b = Plan::transfer(1000, SEED_B, 1000, SEED_A);
    plan_b.shutdown_when_sent = false;
    plan_b.close_when_done = false;
    pair.sim.node_mut(pair.b).accept_plan = Some(plan_b);
    let to = addr_b();
    let ha = pair
        .sim
        .with_node(pair.a, |n, now| n.connect(now, to, plan));
    pair.sim.run_for(Duration::from_secs(1));
    let before = pair.sim.link_stats(addr_a(), addr_b()).sent;
    let before_back = pair.sim.link_stats(addr_b(), addr_a()).sent;
    pair.sim.run_for(Duration::from_secs(70));
    let keepalives = pair.sim.link_stats(addr_a(), addr_b()).sent - before;
    let keepalives_back = pair.sim.link_stats(addr_b(), addr_a()).sent - before_back;
    // One every 29 s of silence (as libutp), from each side.
    assert_eq!(keepalives, 2, "A sent {keepalives} datagrams while idle");
    assert_eq!(
        keepalives_back, 2,
        "B sent {keepalives_back} datagrams while idle"
    );
    assert_eq!(
        pair.a().endpoint.state(ha),
        Ok(utp::proto::State::Connected)
    );
    assert!(pair.a().conn(ha).errors.is_empty() && only(pair.b()).errors.is_empty());
    assert_eq!(pair.a().conn(ha).received, 1000);
}

#[test]
fn ipv6_peers_use_the_ipv6_packet_size() {
    let (a6, b6): (std::net::SocketAddr, std::net::SocketAddr) = (
        "[fd00::1]:6881".parse().unwrap(),
        "[fd00::2]:6881".parse().unwrap(),
    );
    let seed = utp::sim::seed_from_env(7);
    let mut sim = utp::sim::Sim::new(seed);
    let cfg = utp::proto::Config::default();
    let na = sim.add_node(
        a6,
        utp::sim::app::EndpointNode::new(utp::proto::Endpoint::new(cfg.clone(), 1).unwrap()),
    );
    let nb = sim.add_node(
        b6,
        utp::sim::app::EndpointNode::new(utp::proto::Endpoint::new(cfg, 2).unwrap()),
    );
    sim.set_default_link(delay_ms(10).mtu(1280 - 48));
    sim.node_mut(nb).accept_plan = Some(Plan::transfer(MIB, SEED_B, MIB, SEED_A));
    sim.with_node(na, |n, now| {
        n.connect(now, b6, Plan::transfer(MIB, SEED_A, MIB, SEED_B))
    });
    let deadline = sim.now() + Duration::from_secs(30);
    let done = sim.run_until(deadline, |s| {
        [na, nb].iter().all(|&i| {
            s.node(i).conns.values().all(|c| c.closed_at.is_some()) && !s.node(i).conns.is_empty()
        })
    });
    assert!(done);
    let mut probes_lost = 0;
    for i in [na, nb] {
        let c = only(sim.node(i));
        assert!(c.received_all() && c.errors.is_empty());
        assert_eq!(c.stats.mtu, 1232);
        probes_lost += c.stats.pmtu_probes_lost;
    }
    assert_eq!(
        sim.total_stats().dropped_mtu,
        probes_lost,
        "only path-MTU probes exceeded the IPv6 minimum"
    );
}
