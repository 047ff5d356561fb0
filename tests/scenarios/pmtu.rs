//! Path-MTU discovery (issue 5): the search finds the path's size in a few round trips without
//! a timeout, follows a path whose MTU falls mid-transfer, searches above 1232 over IPv6, and a
//! second connection to the same host starts at the size the first one found.
//!
//! Sizes: the simulator's MTU limit ([`LinkConfig::mtu`]) counts the UDP payload, which is what
//! the engine's packet sizes count too. An IPv4 path MTU of 1280 is therefore a limit of 1252
//! here (1280 less 20 bytes of IPv4 and 8 of UDP header), an IPv4 MTU of 1500 one of 1472, an
//! IPv6 MTU of 1500 one of 1452. Datagrams above the limit vanish silently, whatever their
//! don't-fragment bit: a black hole with no ICMP, the hardest case.
//!
//! Each test prints `target pmtu-<name>: ... PASS|MISS` lines like `targets.rs`, and asserts
//! every target.

use crate::harness::*;
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use utp::proto::{Config, ConnectionHandle, ConnectionStats, Endpoint, Instant};
use utp::sim::app::{EndpointNode, Plan};
use utp::sim::{seed_from_env, LinkConfig, Sim, Verdict};

/// One-way delay of every path here: a 40 ms round trip.
const ONE_WAY: Duration = Duration::from_millis(20);
const RTT: Duration = Duration::from_millis(40);

/// The search stops within this many bytes of the path's size (`utp::proto::mtu`).
const STEP: usize = utp::proto::mtu::CONVERGED_WITHIN;

/// Sampling period of the stats while a transfer runs.
const SAMPLE: Duration = Duration::from_millis(1);

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

/// What a sampled run saw of A's connection.
#[derive(Debug, Default)]
struct Trace {
    connected_at: Option<Instant>,
    /// When the search first stopped, and the packet size then.
    converged: Option<(Instant, u32)>,
    /// Longest time B's received byte count stood still while A still had data to deliver.
    longest_stall: Duration,
    /// A's stats at the last sample before it closed.
    last: ConnectionStats,
}

impl Trace {
    fn rtts_to_converge(&self) -> Option<f64> {
        let (at, _) = self.converged?;
        let from = self.connected_at?;
        Some(at.saturating_duration_since(from).as_secs_f64() / RTT.as_secs_f64())
    }
}

/// Runs the simulation until both sides closed (or `limit`), sampling A's connection `h`.
fn run_traced(
    sim: &mut Sim<EndpointNode>,
    a: usize,
    b: usize,
    h: ConnectionHandle,
    limit: Duration,
    mut between: impl FnMut(&mut Sim<EndpointNode>),
) -> Trace {
    let mut trace = Trace::default();
    let deadline = sim.now() + limit;
    let mut last_received = 0;
    let mut last_progress = sim.now();
    loop {
        let all_closed = |n: &EndpointNode| {
            !n.conns.is_empty() && n.conns.values().all(|c| c.closed_at.is_some())
        };
        if (all_closed(sim.node(a)) && all_closed(sim.node(b))) || sim.now() >= deadline {
            break;
        }
        let step_end = sim.now() + SAMPLE;
        sim.run_until(step_end, |_| false);
        between(sim);
        let now = sim.now();
        let ca = sim.node(a).conn(h);
        trace.connected_at = ca.connected_at;
        if let Ok(s) = sim.node(a).endpoint.connection_stats(h) {
            trace.last = s;
            if trace.converged.is_none() && ca.connected_at.is_some() && !s.pmtu_searching {
                trace.converged = Some((now, s.mtu));
            }
        }
        let received: u64 = sim.node(b).conns.values().map(|c| c.received).sum();
        let done = sim.node(b).conns.values().all(|c| c.eof_at.is_some());
        if received != last_received || done || ca.connected_at.is_none() {
            last_received = received;
            last_progress = now;
        } else {
            trace.longest_stall = trace
                .longest_stall
                .max(now.saturating_duration_since(last_progress));
        }
    }
    trace
}

fn path(limit: usize) -> LinkConfig {
    LinkConfig::new().delay(ONE_WAY).mtu(limit)
}

/// A→B transfer of `bytes` over `link` both ways; returns the pair, A's handle and the trace.
fn transfer(
    name: &'static str,
    seed: u64,
    config: Config,
    link: LinkConfig,
    bytes: u64,
    between: impl FnMut(&mut Sim<EndpointNode>),
) -> (Pair, ConnectionHandle, Trace) {
    let mut pair = Pair::new(name, seed, config, link.clone(), link);
    let h = pair.start_transfer(bytes, 0);
    let (a, b) = (pair.a, pair.b);
    let trace = run_traced(&mut pair.sim, a, b, h, Duration::from_secs(60), between);
    (pair, h, trace)
}

#[test]
fn pmtu_1280_black_hole_converges_without_timeouts() {
    // IPv4 path MTU 1280: packets up to 1252 bytes get through.
    let limit = 1280 - 28;
    let bytes = 4 * MIB;
    let (pair, _, trace) = transfer(
        "pmtu 1280 black hole",
        61,
        Config::default(),
        path(limit),
        bytes,
        |_| {},
    );
    let s = pair.assert_clean_transfer(bytes, 0);
    let (_, size) = trace.converged.expect("the search converged");
    let rtts = trace.rtts_to_converge().unwrap();
    let a = trace.last;
    let timeouts = s.timeouts();
    let size_ok = size as usize <= limit && size as usize + STEP >= limit;
    let rtts_ok = rtts <= 10.0;
    let stall_ok = trace.longest_stall <= RTT * 2;
    println!(
        "target pmtu-1280: converged to {size} (path {limit}) in {rtts:.1} RTTs (target <= 10), timeouts {timeouts} (target 0), longest stall {:.0} ms (target <= 2 RTT), probes {} lost {}, {}",
        trace.longest_stall.as_secs_f64() * 1e3,
        a.pmtu_probes,
        a.pmtu_probes_lost,
        verdict(size_ok && rtts_ok && timeouts == 0 && stall_ok)
    );
    assert!(size_ok, "converged to {size}, path carries {limit}");
    assert!(rtts_ok, "took {rtts:.1} RTTs");
    assert_eq!(timeouts, 0);
    assert!(stall_ok, "stalled {:?}", trace.longest_stall);
    assert!(a.pmtu_probes_lost >= 1, "the ceiling probe cannot pass");
    // Only probes were too big: no data packet was ever sent above what the path carries.
    let dropped = pair.sim.total_stats().dropped_mtu;
    assert_eq!(dropped, a.pmtu_probes_lost, "datagrams dropped for size");
    assert_eq!(a.pmtu_black_holes, 0);
}

#[test]
fn pmtu_converges_upward_to_ethernet_and_jumbo_paths() {
    let jumbo = 9000 - 28;
    for (name, limit, ceiling) in [
        ("pmtu-1500", 1500 - 28, 1500 - 28),
        ("pmtu-9000", jumbo, jumbo),
        ("pmtu-1500-jumbo-ceiling", 1500 - 28, jumbo),
    ] {
        let config = Config {
            max_packet_size_v4: ceiling,
            ..Config::default()
        };
        let bytes = 4 * MIB;
        let (pair, _, trace) = transfer(name, 62, config, path(limit), bytes, |_| {});
        let s = pair.assert_clean_transfer(bytes, 0);
        let (_, size) = trace.converged.expect("the search converged");
        let rtts = trace.rtts_to_converge().unwrap();
        let size_ok = size as usize <= limit && size as usize + 4 >= limit;
        let rtts_ok = rtts <= 10.0;
        println!(
            "target {name}: converged to {size} (path {limit}, ceiling {ceiling}) in {rtts:.1} RTTs (target <= 10, within 4 bytes), timeouts {} (target 0), longest stall {:.0} ms, {}",
            s.timeouts(),
            trace.longest_stall.as_secs_f64() * 1e3,
            verdict(size_ok && rtts_ok && s.timeouts() == 0)
        );
        assert!(size_ok, "{name}: converged to {size}");
        assert!(rtts_ok, "{name}: took {rtts:.1} RTTs");
        assert_eq!(s.timeouts(), 0, "{name}");
        assert_eq!(trace.last.mtu, size, "{name}: kept");
    }
}

#[test]
fn pmtu_drop_mid_transfer_is_detected_and_the_transfer_completes() {
    // The path carries 1472 (IPv4 MTU 1500) until B has 2 MiB, then only 1252 (MTU 1280),
    // silently: every packet in flight at the old size vanishes, retransmissions too.
    let limit = 1280 - 28;
    let bytes = 6 * MIB;
    let dropped = Rc::new(Cell::new(false));
    let flag = dropped.clone();
    let mut pair = Pair::symmetric("pmtu drop 1500 -> 1280", 63, delay_ms(20));
    pair.sim.add_hook(move |info| {
        if flag.get() && info.data.len() > limit {
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    });
    let h = pair.start_transfer(bytes, 0);
    let (a, b) = (pair.a, pair.b);
    let mut dropped_at = None;
    let trace = run_traced(&mut pair.sim, a, b, h, Duration::from_secs(60), |sim| {
        let received: u64 = sim.node(b).conns.values().map(|c| c.received).sum();
        if dropped_at.is_none() && received >= 2 * MIB {
            dropped_at = Some(sim.now());
            dropped.set(true);
        }
    });
    let dropped_at = dropped_at.expect("the drop happened");
    let s = pair.assert_clean_transfer(bytes, 0);
    let before = trace.converged.map_or(0, |(_, size)| size);
    let st = trace.last;
    let after = st.mtu as usize;
    let finished = only(pair.b()).eof_at.expect("EOF");
    let size_ok = after <= limit && after + STEP >= limit;
    let timeouts_ok = s.timeouts() <= u64::from(utp::proto::connection::BLACK_HOLE_TIMEOUTS);
    println!(
        "target pmtu-drop: size {before} before, {after} after the drop to {limit} (target within {STEP}), black holes {} (target 1), timeouts {} (target <= {}), rest of transfer {:.2} s, {}",
        st.pmtu_black_holes,
        s.timeouts(),
        utp::proto::connection::BLACK_HOLE_TIMEOUTS,
        finished.saturating_duration_since(dropped_at).as_secs_f64(),
        verdict(size_ok && timeouts_ok && st.pmtu_black_holes == 1)
    );
    assert_eq!(before, 1472, "converged to the full size first");
    assert!(size_ok, "after the drop: {after}");
    assert_eq!(st.pmtu_black_holes, 1);
    assert!(timeouts_ok, "{} timeouts", s.timeouts());
}

/// An IPv6 pair over `link`, A sending `bytes` to B; returns A's stats and the trace.
fn ipv6_transfer(seed: u64, limit: usize, bytes: u64) -> (ConnectionStats, Trace, u64) {
    let a6: SocketAddr = "[fd00::1]:6881".parse().unwrap();
    let b6: SocketAddr = "[fd00::2]:6881".parse().unwrap();
    let seed = seed_from_env(seed);
    let mut sim = Sim::new(seed);
    let a = sim.add_node(
        a6,
        EndpointNode::new(Endpoint::new(Config::default(), seed ^ 0xA).unwrap()),
    );
    let b = sim.add_node(
        b6,
        EndpointNode::new(Endpoint::new(Config::default(), seed ^ 0xB).unwrap()),
    );
    sim.set_default_link(path(limit));
    sim.node_mut(b).accept_plan = Some(Plan::transfer(0, SEED_B, bytes, SEED_A));
    let h = sim.with_node(a, |n, now| {
        n.connect(now, b6, Plan::transfer(bytes, SEED_A, 0, SEED_B))
    });
    let trace = run_traced(&mut sim, a, b, h, Duration::from_secs(60), |_| {});
    let cb = only(sim.node(b));
    assert!(
        cb.received_all() && cb.errors.is_empty(),
        "IPv6 transfer intact"
    );
    let timeouts = trace.last.timeouts;
    (trace.last, trace, timeouts)
}

#[test]
fn pmtu_ipv6_searches_above_1232() {
    for (name, limit) in [("pmtu-ipv6-1500", 1500 - 48), ("pmtu-ipv6-1280", 1280 - 48)] {
        let (stats, trace, timeouts) = ipv6_transfer(64, limit, 2 * MIB);
        let (_, size) = trace.converged.expect("converged");
        let rtts = trace.rtts_to_converge().unwrap();
        let ok = size as usize <= limit && size as usize + STEP >= limit && rtts <= 10.0;
        println!(
            "target {name}: converged to {size} (path {limit}) in {rtts:.1} RTTs (target <= 10), timeouts {timeouts} (target 0), probes {} lost {}, {}",
            stats.pmtu_probes,
            stats.pmtu_probes_lost,
            verdict(ok && timeouts == 0)
        );
        assert!(ok, "{name}: {size} after {rtts:.1} RTTs");
        assert_eq!(timeouts, 0, "{name}");
    }
}

#[test]
fn pmtu_second_connection_to_the_same_host_starts_at_the_discovered_size() {
    let limit = 1280 - 28;
    let mut pair = Pair::symmetric("pmtu cache", 65, path(limit));
    let h1 = pair.start_transfer(MIB, 0);
    let (a, b) = (pair.a, pair.b);
    let first = run_traced(&mut pair.sim, a, b, h1, Duration::from_secs(30), |_| {}).last;
    assert!(first.pmtu_probes > 0, "{first:?}");
    let to = addr_b();
    let h2 = pair.sim.with_node(pair.a, |n, now| {
        n.connect(now, to, Plan::transfer(MIB, SEED_A, 0, SEED_B))
    });
    let trace = run_traced(&mut pair.sim, a, b, h2, Duration::from_secs(30), |_| {});
    let second = trace.last;
    println!(
        "target pmtu-cache: first connection {} after {} probes, second starts at {} with {} probes, {}",
        first.mtu,
        first.pmtu_probes,
        second.mtu,
        second.pmtu_probes,
        verdict(second.pmtu_probes == 0 && second.mtu == first.mtu)
    );
    assert!(pair.a().conn(h2).errors.is_empty());
    assert_eq!(second.mtu, first.mtu, "the discovered size is reused");
    assert_eq!(
        second.pmtu_probes, 0,
        "no new search within the raise interval"
    );
}

#[test]
fn pmtu_an_outage_is_not_taken_for_a_black_hole() {
    // Everything is lost for 1.5 s mid-transfer, small packets included: the timeouts look like
    // a black hole's, but the ping goes unanswered, so the size stays and nothing is re-cut.
    let bytes = 6 * MIB;
    let outage = Rc::new(Cell::new(None::<Instant>));
    let hook_outage = outage.clone();
    let mut pair = Pair::symmetric("pmtu outage 1.5 s", 66, delay_ms(20));
    pair.sim.add_hook(move |info| match hook_outage.get() {
        Some(from) if info.now < from + Duration::from_millis(1500) => Verdict::Drop,
        _ => Verdict::Pass,
    });
    let h = pair.start_transfer(bytes, 0);
    let (a, b) = (pair.a, pair.b);
    let trace = run_traced(&mut pair.sim, a, b, h, Duration::from_secs(60), |sim| {
        let received: u64 = sim.node(b).conns.values().map(|c| c.received).sum();
        if outage.get().is_none() && received >= 2 * MIB {
            outage.set(Some(sim.now()));
        }
    });
    let s = pair.assert_clean_transfer(bytes, 0);
    let st = trace.last;
    let ok = st.pmtu_black_holes == 0 && st.mtu == 1472 && s.timeouts() >= 2;
    println!(
        "target pmtu-outage: black holes {} (target 0), size {} (target 1472), timeouts {}, {}",
        st.pmtu_black_holes,
        st.mtu,
        s.timeouts(),
        verdict(ok)
    );
    assert!(
        s.timeouts() >= 2,
        "the outage must look like a black hole to the timer"
    );
    assert_eq!(st.pmtu_black_holes, 0);
    assert_eq!(st.mtu, 1472);
}

#[test]
fn pmtu_a_converged_search_probes_again_after_the_raise_interval() {
    // The path carries 1252 bytes for the first 2 s, then 1472 (a route change). With the
    // raise interval shortened to 3 s, the search converges below 1252 at once and finds 1472
    // when it looks again, not before.
    let raise = Duration::from_secs(3);
    let config = Config {
        pmtu_raise_interval: raise,
        ..Config::default()
    };
    let widen_at = Instant::from_micros(2_000_000);
    let link = LinkConfig::new()
        .bottleneck(1_000_000, 100_000)
        .delay(ONE_WAY);
    let mut pair = Pair::new("pmtu raise timer", 67, config, link, delay_ms(20));
    pair.sim.add_hook(move |info| {
        if info.now < widen_at && info.data.len() > 1280 - 28 {
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    });
    let h = pair.start_transfer(8 * MIB, 0);
    let (a, b) = (pair.a, pair.b);
    let mut grew_at = None;
    let trace = run_traced(&mut pair.sim, a, b, h, Duration::from_secs(60), |sim| {
        if let Ok(s) = sim.node(a).endpoint.connection_stats(h) {
            if grew_at.is_none() && s.mtu > 1280 - 28 {
                grew_at = Some(sim.now());
            }
        }
    });
    pair.assert_clean_transfer(8 * MIB, 0);
    let (converged_at, first) = trace.converged.expect("converged");
    let grew_at = grew_at.expect("the size grew after the route change");
    let waited = grew_at.saturating_duration_since(converged_at);
    let ok = trace.last.mtu == 1472 && waited >= raise && waited <= raise + RTT * 3;
    println!(
        "target pmtu-raise: converged to {first}, grew to {} {:.2} s later (raise interval {:.0} s), {}",
        trace.last.mtu,
        waited.as_secs_f64(),
        raise.as_secs_f64(),
        verdict(ok)
    );
    assert!(first as usize <= 1280 - 28);
    assert_eq!(trace.last.mtu, 1472);
    assert!(waited >= raise, "re-probed after {waited:?}");
    assert!(waited <= raise + RTT * 3, "re-probed only after {waited:?}");
}
