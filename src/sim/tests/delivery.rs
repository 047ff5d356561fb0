//! Delays, jitter, routing and the flushing of nodes poked from outside.

use super::toys::*;
use crate::sim::{LinkConfig, Sim};
use core::time::Duration;

const MS: Duration = Duration::from_millis(1);

#[test]
fn a_pass_through_link_delivers_at_the_instant_of_sending() {
    let mut sim = one_way(1, steady(10, 8, MS), LinkConfig::new());
    run_out(&mut sim);
    let arrivals: Vec<_> = sim
        .node(1)
        .received()
        .map(|(t, from, d)| (t, from, number(d)))
        .collect();
    let expected: Vec<_> = (0..10).map(|n| (at(u64::from(n) * 1000), A, n)).collect();
    assert_eq!(arrivals, expected);
}

#[test]
fn a_fixed_delay_delivers_in_order_after_exactly_the_delay() {
    let mut sim = one_way(1, steady(100, 100, MS), LinkConfig::new().delay(20 * MS));
    run_out(&mut sim);
    let b = sim.node(1);
    assert_eq!(b.numbers(), (0..100).collect::<Vec<_>>());
    for (t, from, data) in b.received() {
        assert_eq!(from, A);
        assert_eq!(t, at(u64::from(number(data)) * 1000 + 20_000));
        assert_eq!(data, numbered(number(data), 100));
    }
    let stats = sim.link_stats(A, B);
    assert_eq!(
        (stats.sent, stats.delivered, stats.delivered_bytes),
        (100, 100, 10_000)
    );
}

#[test]
fn jitter_reorders_within_its_bound() {
    let mut sim = one_way(
        2,
        steady(1000, 8, Duration::from_micros(100)),
        LinkConfig::new().delay(10 * MS).jitter(5 * MS),
    );
    run_out(&mut sim);
    let b = sim.node(1);
    let numbers = b.numbers();
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..1000).collect::<Vec<_>>(),
        "nothing lost or duplicated"
    );
    let inversions = numbers.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions > 100, "only {inversions} reorderings");
    for (t, _, data) in b.received() {
        let sent = u64::from(number(data)) * 100;
        assert!(
            (sent + 10_000..=sent + 15_000).contains(&t.as_micros()),
            "{t:?} for one sent at {sent}"
        );
    }
}

#[test]
fn the_default_link_covers_unconfigured_directions_only() {
    let mut sim = Sim::new(3);
    sim.add_node(A, Toy::echo());
    sim.add_node(B, Toy::sink());
    sim.set_default_link(LinkConfig::new().delay(7 * MS));
    sim.set_link(B, A, LinkConfig::new().delay(2 * MS));
    sim.with_node(1, |b, _| b.outbox.push_back((A, numbered(1, 4))));
    run_out(&mut sim);
    // B -> A takes 2 ms (explicit), the echo A -> B 7 ms (default).
    assert_eq!(
        sim.node(0).received().map(|(t, ..)| t).collect::<Vec<_>>(),
        [at(2000)]
    );
    assert_eq!(
        sim.node(1).received().map(|(t, ..)| t).collect::<Vec<_>>(),
        [at(9000)]
    );
}

#[test]
fn changing_the_default_reconfigures_links_that_follow_it() {
    let mut sim = one_way(3, steady(2, 8, 10 * MS), LinkConfig::new());
    sim.add_node(C, Toy::sink());
    sim.with_node(0, |a, _| a.outbox.push_back((C, numbered(0, 8))));
    sim.run_for(5 * MS);
    sim.set_default_link(LinkConfig::new().delay(MS));
    sim.with_node(0, |a, _| a.outbox.push_back((C, numbered(1, 8))));
    run_out(&mut sim);
    let times = |i: usize| sim.node(i).received().map(|(t, ..)| t).collect::<Vec<_>>();
    assert_eq!(times(2), [at(0), at(6000)], "A -> C follows the default");
    assert_eq!(
        times(1),
        [at(0), at(10_000)],
        "A -> B was configured and keeps its link"
    );
}

#[test]
fn datagrams_to_an_address_without_a_node_are_dropped_and_counted() {
    let mut sim = one_way(
        4,
        Schedule {
            to: C,
            ..steady(5, 8, MS)
        },
        LinkConfig::new(),
    );
    run_out(&mut sim);
    assert_eq!(sim.link_stats(A, C).unroutable, 5);
    assert_eq!(sim.link_stats(A, C).delivered, 0);
    assert_eq!(sim.total_stats().sent, 5);
}

#[test]
fn a_node_added_later_receives_what_arrives_after() {
    let mut sim = one_way(
        4,
        Schedule {
            to: C,
            ..steady(4, 8, MS)
        },
        LinkConfig::new(),
    );
    sim.run_for(Duration::from_micros(1500));
    sim.add_node(C, Toy::sink());
    run_out(&mut sim);
    assert_eq!(sim.node(2).numbers(), [2, 3]);
    assert_eq!(sim.link_stats(A, C).unroutable, 2);
}

#[test]
fn with_node_flushes_transmits_at_once() {
    let mut sim = one_way(5, steady(0, 8, MS), LinkConfig::new());
    sim.set_link(B, A, LinkConfig::new().delay(MS));
    let len = sim.with_node(1, |b, now| {
        assert_eq!(now, at(0));
        b.outbox.push_back((A, numbered(9, 8)));
        b.outbox.len()
    });
    assert_eq!(len, 1);
    assert_eq!(sim.in_flight(), 1);
    assert!(sim.step());
    assert_eq!(sim.now(), at(1000));
    assert_eq!(sim.node(0).numbers(), [9]);
}

#[test]
fn node_mut_changes_are_flushed_before_the_next_event() {
    let mut sim = one_way(5, steady(0, 8, MS), LinkConfig::new());
    sim.run_for(3 * MS);
    sim.node_mut(1).outbox.push_back((A, numbered(4, 8)));
    sim.node_mut(1).alarm = Some(at(5000));
    assert_eq!(sim.next_event(), Some(at(3000)));
    assert!(sim.step());
    assert_eq!(
        sim.node(0)
            .received()
            .map(|(t, _, d)| (t, number(d)))
            .collect::<Vec<_>>(),
        [(at(3000), 4)]
    );
    assert!(sim.step());
    assert_eq!(sim.node(1).timeouts(), [at(5000)]);
    assert!(!sim.step());
}

#[test]
fn one_step_is_one_event_and_run_until_stops_when_done() {
    let mut sim = one_way(6, steady(10, 8, MS), LinkConfig::new().delay(MS / 2));
    let done = sim.run_until(at(1_000_000), |s| s.node(1).received().count() == 3);
    assert!(done);
    // Delivery of datagram 2 happens at 2.5 ms.
    assert_eq!(sim.now(), at(2500));
    assert!(!sim.run_until(at(4000), |_| false));
    assert_eq!(sim.now(), at(4000));
    assert_eq!(sim.node(1).received().count(), 4);
}
