//! Determinism: a seed decides the whole run, and each link draws from its own stream.

use super::toys::*;
use crate::proto::time::Instant;
use crate::sim::{LinkConfig, Sim};
use core::time::Duration;

const MS: Duration = Duration::from_millis(1);

fn rough() -> LinkConfig {
    LinkConfig::new()
        .delay(5 * MS)
        .jitter(3 * MS)
        .loss(0.05)
        .burst_loss(0.02, 0.3, 0.8)
        .duplicate(0.05, 2 * MS)
        .corrupt(0.05, 4)
        .bottleneck(500_000, 8000)
}

type Trace = Vec<(usize, Instant, Seen)>;

/// Two-way traffic (a sender and an echo) over rough links, as seen by both nodes.
fn trace(seed: u64) -> Trace {
    let mut sim = one_way(
        seed,
        Schedule {
            burst: 4,
            ..steady(500, 300, MS)
        },
        rough(),
    );
    *sim.node_mut(1) = Toy::echo();
    sim.set_link(B, A, rough());
    run_out(&mut sim);
    (0..2)
        .flat_map(|i| {
            sim.node(i)
                .seen
                .iter()
                .map(move |(t, s)| (i, *t, s.clone()))
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_trace_and_another_seed_another() {
    let first = trace(41);
    assert!(first.len() > 500, "{} events", first.len());
    assert_eq!(first, trace(41));
    assert_ne!(first, trace(42));
}

/// What B receives from A over a lossy, jittery link, with or without unrelated traffic.
fn a_to_b(seed: u64, with_neighbours: bool) -> Vec<(Instant, Vec<u8>)> {
    let mut sim = one_way(
        seed,
        steady(2000, 16, MS / 4),
        LinkConfig::new()
            .jitter(2 * MS)
            .loss(0.1)
            .duplicate(0.1, MS),
    );
    if with_neighbours {
        sim.add_node(
            C,
            Toy::sender(Schedule {
                to: D,
                ..steady(3000, 16, MS / 3)
            }),
        );
        sim.add_node(D, Toy::echo());
        sim.set_default_link(LinkConfig::new().jitter(MS).loss(0.3));
        sim.set_link(A, C, LinkConfig::new().loss(0.5));
        sim.set_link(B, A, LinkConfig::new().corrupt(1.0, 2));
    }
    run_out(&mut sim);
    sim.node(1)
        .received()
        .map(|(t, _, d)| (t, d.to_vec()))
        .collect()
}

#[test]
fn other_links_do_not_change_a_links_random_choices() {
    assert_eq!(a_to_b(43, false), a_to_b(43, true));
}

#[test]
fn the_sim_knows_its_seed() {
    let sim: Sim<Toy> = Sim::new(0xfeed);
    assert_eq!(sim.seed(), 0xfeed);
}
