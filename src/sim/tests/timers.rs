//! Node deadlines: when they fire, their order against deliveries, and livelock detection.

use super::toys::*;
use crate::sim::{LinkConfig, Sim};
use core::time::Duration;

const MS: Duration = Duration::from_millis(1);

#[test]
fn a_timeout_fires_exactly_at_the_deadline() {
    let mut sim = Sim::new(51);
    sim.add_node(A, Toy::alarm(at(5000)));
    assert_eq!(sim.next_event(), Some(at(5000)));
    assert!(sim.step());
    assert_eq!(sim.now(), at(5000));
    assert_eq!(sim.node(0).timeouts(), [at(5000)]);
    assert!(!sim.step(), "nothing left");
    assert_eq!(sim.now(), at(5000));
}

#[test]
fn a_deadline_in_the_past_fires_now() {
    let mut sim = Sim::new(52);
    sim.add_node(A, Toy::sink());
    sim.run_for(10 * MS);
    assert_eq!(sim.now(), at(10_000));
    sim.with_node(0, |a, _| a.alarm = Some(at(3000)));
    assert!(sim.step());
    assert_eq!(sim.node(0).timeouts(), [at(10_000)]);
}

#[test]
fn deliveries_come_before_deadlines_at_the_same_instant() {
    let mut sim = Sim::new(53);
    sim.add_node(A, Toy::sink());
    sim.add_node(B, Toy::alarm(at(1000)));
    sim.set_link(A, B, LinkConfig::new().delay(MS));
    sim.with_node(0, |a, _| a.outbox.push_back((B, numbered(7, 4))));
    run_out(&mut sim);
    let seen = &sim.node(1).seen;
    assert_eq!(seen.len(), 2);
    assert!(matches!(seen[0], (t, Seen::Datagram { .. }) if t == at(1000)));
    assert_eq!(seen[1], (at(1000), Seen::Timeout));
}

#[test]
fn equal_deadlines_fire_lowest_node_first() {
    let mut sim = Sim::new(54);
    sim.add_node(A, Toy::alarm(at(2000)));
    sim.add_node(B, Toy::alarm(at(2000)));
    assert!(sim.step());
    assert_eq!(sim.node(0).timeouts(), [at(2000)]);
    assert!(sim.node(1).timeouts().is_empty());
    assert!(sim.step());
    assert_eq!(sim.node(1).timeouts(), [at(2000)]);
}

#[test]
fn run_for_moves_the_clock_even_when_idle() {
    let mut sim: Sim<Toy> = Sim::new(55);
    sim.run_for(3 * MS);
    assert_eq!(sim.now(), at(3000));
    assert!(!sim.step());
}

#[test]
#[should_panic(
    expected = "livelock: node 1 at 10.0.0.2:2000 asked for handle_timeout more than 100000 times at Instant(0)"
)]
fn a_deadline_stuck_in_the_past_is_a_livelock() {
    let mut sim = Sim::new(56);
    sim.add_node(A, Toy::sink());
    sim.add_node(B, Toy::stuck());
    run_out(&mut sim);
}

#[test]
#[should_panic(expected = "RUTP_SIM_SEED=57")]
fn the_livelock_message_names_the_seed() {
    let mut sim = Sim::new(57);
    sim.add_node(A, Toy::stuck());
    sim.run_for(MS);
}
