//! Scripted interference: hooks that drop or hold chosen datagrams.

use super::toys::*;
use crate::sim::{LinkConfig, Sim, Verdict};
use core::time::Duration;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

const MS: Duration = Duration::from_millis(1);

#[test]
fn a_hook_drops_exactly_the_first_matching_datagram() {
    let mut sim = Sim::new(31);
    sim.add_node(A, Toy::sink());
    sim.add_node(B, Toy::echo());
    let dropped = Rc::new(Cell::new(false));
    let flag = dropped.clone();
    sim.add_hook(move |info| {
        if info.from == A && info.to == B && info.data.first() == Some(&0x41) && !flag.get() {
            flag.set(true);
            return Verdict::Drop;
        }
        Verdict::Pass
    });
    sim.with_node(0, |a, _| {
        for data in [[0x41, 1], [0x42, 2], [0x41, 3]] {
            a.outbox.push_back((B, data.to_vec()));
        }
    });
    run_out(&mut sim);
    let at_b: Vec<Vec<u8>> = sim.node(1).received().map(|(_, _, d)| d.to_vec()).collect();
    assert_eq!(at_b, [vec![0x42, 2], vec![0x41, 3]]);
    assert_eq!(sim.node(0).received().count(), 2, "echoes B -> A pass");
    assert!(dropped.get());
    assert_eq!(sim.link_stats(A, B).dropped_hook, 1);
}

#[test]
fn a_hook_sees_per_direction_indices_before_the_impairments() {
    let mut sim = Sim::new(32);
    sim.add_node(A, Toy::sink());
    sim.add_node(B, Toy::echo());
    // A -> B loses everything, yet the hook sees every datagram.
    sim.set_link(A, B, LinkConfig::new().loss(1.0));
    let log = Rc::new(RefCell::new(Vec::new()));
    let seen = log.clone();
    sim.add_hook(move |info| {
        seen.borrow_mut().push((info.from, info.index, info.now));
        Verdict::Pass
    });
    sim.with_node(0, |a, _| {
        (0..3).for_each(|n| a.outbox.push_back((B, numbered(n, 4))))
    });
    sim.run_for(MS);
    sim.with_node(1, |b, _| b.outbox.push_back((A, numbered(9, 4))));
    run_out(&mut sim);
    let t = at;
    assert_eq!(
        *log.borrow(),
        [(A, 0, t(0)), (A, 1, t(0)), (A, 2, t(0)), (B, 0, t(1000))]
    );
    assert_eq!(sim.link_stats(A, B).lost_random, 3);
}

#[test]
fn a_delay_verdict_holds_only_its_datagram() {
    let mut sim = one_way(33, steady(6, 8, MS), LinkConfig::new().delay(MS / 2));
    sim.add_hook(|info| {
        if info.index == 2 {
            Verdict::Delay(3 * MS + MS / 10)
        } else {
            Verdict::Pass
        }
    });
    run_out(&mut sim);
    let arrivals: Vec<(u64, u32)> = sim
        .node(1)
        .received()
        .map(|(t, _, d)| (t.as_micros(), number(d)))
        .collect();
    // Datagram 2, sent at 2 ms, enters the link 3.1 ms later and arrives after 3, 4 and 5.
    assert_eq!(
        arrivals,
        [
            (500, 0),
            (1500, 1),
            (3500, 3),
            (4500, 4),
            (5500, 5),
            (5600, 2)
        ]
    );
    assert_eq!(sim.link_stats(A, B).delivered, 6);
}
