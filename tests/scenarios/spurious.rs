//! A spurious retransmission timeout (issue 5: "no window collapse for a spurious timeout
//! detected afterwards"): the path stalls for 700 ms, long enough for the retransmission timer
//! to fire, then delivers everything it held. The originals' ACKs show the timeout was
//! spurious, and the window cut it made is undone.

use crate::harness::*;
use std::time::Duration;
use utp::proto::{Config, Instant};
use utp::sim::{LinkConfig, Verdict};

#[test]
fn a_stall_that_fires_the_timer_does_not_collapse_the_window() {
    let one_way = Duration::from_millis(10);
    let link = || {
        LinkConfig::new()
            .bottleneck(12_500_000, 1_250_000)
            .delay(one_way)
    };
    let mut pair = Pair::new("700 ms stall", 70, Config::default(), link(), link());
    pair.sim.node_mut(pair.a).keep_log = false;
    pair.sim.node_mut(pair.b).keep_log = false;
    let (stall_from, stall_to) = (
        Instant::from_micros(3_000_000),
        Instant::from_micros(3_700_000),
    );
    let from = addr_a();
    pair.sim.add_hook(move |info| {
        if info.from == from && info.now >= stall_from && info.now < stall_to {
            Verdict::Delay(stall_to.saturating_duration_since(info.now))
        } else {
            Verdict::Pass
        }
    });
    pair.start_transfer(1 << 40, 0);
    pair.sim.run_for(Duration::from_millis(2900));
    let (h, _) = pair.a().single();
    let before = pair.a().endpoint.connection_stats(h).unwrap();
    // Through the stall and two round trips after it.
    let mut lowest = u64::MAX;
    let mut t = Duration::from_millis(2900);
    while t < Duration::from_millis(4000) {
        pair.sim.run_for(Duration::from_millis(10));
        t += Duration::from_millis(10);
        let s = pair.a().endpoint.connection_stats(h).unwrap();
        if t >= Duration::from_millis(3850) {
            lowest = lowest.min(s.cwnd);
        }
    }
    let after = pair.a().endpoint.connection_stats(h).unwrap();
    println!(
        "700 ms stall: cwnd before {} B, lowest from 150 ms after the stall {} B, at 4 s {} B; timeouts {}, spurious {}",
        before.cwnd,
        lowest,
        after.cwnd,
        after.timeouts - before.timeouts,
        after.spurious_retransmits - before.spurious_retransmits
    );
    assert!(
        after.timeouts > before.timeouts,
        "the stall fired the timer"
    );
    assert!(
        after.spurious_retransmits > before.spurious_retransmits,
        "found spurious"
    );
    assert!(
        lowest * 2 >= before.cwnd,
        "window collapsed: {} -> {lowest}",
        before.cwnd
    );
}
