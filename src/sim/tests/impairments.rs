//! Random loss, burst loss, duplication and corruption: rates and counters.

use super::toys::*;
use crate::sim::{LinkConfig, LinkStats};
use core::time::Duration;

const US: Duration = Duration::from_micros(1);

/// 100 000 small datagrams, 100 every millisecond.
fn many() -> Schedule {
    Schedule {
        burst: 100,
        ..steady(100_000, 8, Duration::from_millis(1))
    }
}

/// Every datagram is accounted for once nothing is in flight.
fn assert_conserved(s: &LinkStats) {
    let gone = s.delivered
        + s.lost_random
        + s.lost_burst
        + s.dropped_queue
        + s.dropped_mtu
        + s.dropped_hook
        + s.unroutable;
    assert_eq!(s.sent + s.duplicated, gone, "{s:?}");
}

#[test]
fn random_loss_rate_is_within_four_standard_deviations_of_p() {
    let p = 0.1;
    let mut sim = one_way(11, many(), LinkConfig::new().loss(p));
    run_out(&mut sim);
    let s = sim.link_stats(A, B);
    let n = 100_000.0;
    let sigma = (n * p * (1.0 - p)).sqrt();
    assert!((s.lost_random as f64 - n * p).abs() < 4.0 * sigma, "{s:?}");
    assert_eq!(sim.node(1).received().count() as u64, s.delivered);
    assert_conserved(&s);
}

/// Lengths of the runs of consecutive missing numbers among `0..count`.
fn loss_runs(received: &[u32], count: u32) -> Vec<u32> {
    let mut got = vec![false; count as usize];
    for &n in received {
        got[n as usize] = true;
    }
    let mut runs = Vec::new();
    let mut run = 0;
    for g in got {
        if g {
            if run > 0 {
                runs.push(run);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    if run > 0 {
        runs.push(run);
    }
    runs
}

#[test]
fn burst_loss_loses_in_runs() {
    // Bad one datagram in 21 on average, bursts of 5 on average, all lost while bad.
    let mut sim = one_way(12, many(), LinkConfig::new().burst_loss(0.01, 0.2, 1.0));
    run_out(&mut sim);
    let s = sim.link_stats(A, B);
    let runs = loss_runs(&sim.node(1).numbers(), 100_000);
    let lost: u32 = runs.iter().sum();
    assert_eq!(u64::from(lost), s.lost_burst);
    let mean_run = f64::from(lost) / runs.len() as f64;
    assert!((4.0..6.0).contains(&mean_run), "mean burst {mean_run}");
    // Stationary share of the bad state: 0.01 / 0.21.
    let rate = f64::from(lost) / 100_000.0;
    assert!((0.035..0.06).contains(&rate), "loss rate {rate}");
    assert_conserved(&s);
}

#[test]
fn independent_loss_at_the_same_rate_barely_runs() {
    let mut sim = one_way(12, many(), LinkConfig::new().loss(0.0476));
    run_out(&mut sim);
    let runs = loss_runs(&sim.node(1).numbers(), 100_000);
    let mean_run = runs.iter().sum::<u32>() as f64 / runs.len() as f64;
    assert!(mean_run < 1.2, "mean run {mean_run}");
}

#[test]
fn duplication_delivers_counted_copies_with_their_own_delay() {
    let mut sim = one_way(
        13,
        steady(10_000, 8, 100 * US),
        LinkConfig::new().duplicate(0.2, Duration::from_millis(1)),
    );
    run_out(&mut sim);
    let s = sim.link_stats(A, B);
    // Binomial(10 000, 0.2): standard deviation 40.
    assert!((1840..2160).contains(&s.duplicated), "{s:?}");
    assert_eq!(s.delivered, s.sent + s.duplicated);
    let b = sim.node(1);
    let mut seen = vec![0u32; 10_000];
    for (t, _, data) in b.received() {
        let n = number(data);
        seen[n as usize] += 1;
        let sent = u64::from(n) * 100;
        assert!((sent..=sent + 1000).contains(&t.as_micros()));
    }
    assert_eq!(
        seen.iter().filter(|&&c| c == 2).count() as u64,
        s.duplicated
    );
    assert!(seen.iter().all(|&c| c == 1 || c == 2));
    // Copies arrive after their original by a spread of delays, not all at once.
    let late_copies = b
        .received()
        .filter(|(t, _, d)| t.as_micros() > u64::from(number(d)) * 100 + 500)
        .count();
    assert!(late_copies > 500, "{late_copies}");
}

#[test]
fn corruption_flips_up_to_k_bits_of_the_counted_datagrams() {
    let mut sim = one_way(
        14,
        steady(10_000, 64, 100 * US),
        LinkConfig::new().delay(US).corrupt(0.3, 3),
    );
    run_out(&mut sim);
    let s = sim.link_stats(A, B);
    assert!((2860..3140).contains(&s.corrupted), "{s:?}");
    // Datagrams arrive in order, so the n-th received was sent as number n.
    let mut damaged = 0;
    for (i, (_, _, data)) in sim.node(1).received().enumerate() {
        let flipped: u32 = numbered(i as u32, 64)
            .iter()
            .zip(data)
            .map(|(x, y)| (x ^ y).count_ones())
            .sum();
        assert!(flipped <= 3);
        damaged += u64::from(flipped > 0);
    }
    assert_eq!(damaged, s.corrupted);
    assert_eq!(s.delivered, 10_000);
}

#[test]
fn every_datagram_is_accounted_for_under_a_long_chain() {
    let config = LinkConfig::new()
        .jitter(Duration::from_millis(2))
        .duplicate(0.05, Duration::from_millis(1))
        .loss(0.02)
        .burst_loss(0.01, 0.3, 0.5)
        .corrupt(0.05, 8)
        .bottleneck(2_000_000, 30_000)
        .delay(Duration::from_millis(10))
        .mtu(1000);
    let schedule = Schedule {
        burst: 3,
        ..steady(30_000, 600, Duration::from_micros(700))
    };
    let mut sim = one_way(15, schedule, config);
    for _ in 0..20_000 {
        sim.step();
    }
    let s = sim.link_stats(A, B);
    let mut mid = s;
    mid.delivered += sim.in_flight() as u64;
    assert_conserved(&mid);
    run_out(&mut sim);
    let s = sim.link_stats(A, B);
    assert_conserved(&s);
    assert!(
        s.lost_random > 0
            && s.lost_burst > 0
            && s.dropped_queue > 0
            && s.duplicated > 0
            && s.corrupted > 0,
        "{s:?}"
    );
    assert_eq!(s.dropped_mtu, 0);
}
