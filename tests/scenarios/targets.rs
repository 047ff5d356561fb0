//! Where the engine stands on the targets of the LEDBAT / loss-recovery work: throughput and
//! queueing delay on a deep-buffered 100 Mbit/s link, throughput on a long fat pipe, sharing
//! between two flows, and the effect of a jump of one side's timestamp clock.
//!
//! Each test prints `target <name>: measured X, target Y, PASS|MISS` and asserts the target.

use crate::harness::*;
use crate::queue_probe::QueueProbe;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use utp::proto::endpoint::Transmit;
use utp::proto::{Config, Endpoint, Instant};
use utp::sim::app::{EndpointNode, Plan};
use utp::sim::{LinkConfig, Node, Sim};

/// 100 Mbit/s in bytes per second.
const RATE_100M: u64 = 12_500_000;
/// 1 Gbit/s in bytes per second.
const RATE_1G: u64 = 125_000_000;
/// More than any run here can send: the transfer never ends on its own.
const ENDLESS: u64 = 1 << 40;

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

/// A→B: bottleneck of `rate` bytes/s with a queue of `queue_time` at that rate, then `one_way`
/// of propagation. The bottleneck comes first so that a hook (which sees datagrams as they are
/// sent) can mirror its queue exactly.
fn bottleneck_link(rate: u64, queue_time: Duration, one_way: Duration) -> LinkConfig {
    let queue = (rate as f64 * queue_time.as_secs_f64()) as u64;
    LinkConfig::new().bottleneck(rate, queue).delay(one_way)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Received bytes of every connection on B, in handle order.
fn b_received(pair: &Pair) -> Vec<u64> {
    pair.b().conns.values().map(|c| c.received).collect()
}

/// One flow over `link` for `total` of virtual time; returns (payload goodput over the second
/// half in bytes/s, the probe, A's stats sampled every 100 ms as (t, cwnd, queuing_delay ms)).
fn long_run(
    name: &'static str,
    seed: u64,
    config: Config,
    rate: u64,
    queue_time: Duration,
    one_way: Duration,
    total: Duration,
) -> (f64, Rc<RefCell<QueueProbe>>, Pair) {
    let queue = (rate as f64 * queue_time.as_secs_f64()) as u64;
    let mut pair = Pair::new(
        name,
        seed,
        config,
        bottleneck_link(rate, queue_time, one_way),
        LinkConfig::new().delay(one_way),
    );
    pair.sim.node_mut(pair.a).keep_log = false;
    pair.sim.node_mut(pair.b).keep_log = false;
    let probe = QueueProbe::install(&mut pair.sim, rate, queue);
    pair.start_transfer(ENDLESS, 0);
    let half = total / 2;
    let step = Duration::from_millis(500);
    let mut t = Duration::ZERO;
    let mut at_half = 0;
    while t < total {
        pair.sim.run_for(step);
        t += step;
        let (_, ca) = pair.a().single();
        println!(
            "  {name} t={:>5.1}s  B received {:>11}  cwnd {:>8}  rtt {:>6.1} ms  engine queuing delay {:>6.1} ms  retransmits {} timeouts {}",
            t.as_secs_f64(),
            pair.b().single().1.received,
            ca.stats.cwnd,
            ca.stats.rtt.as_secs_f64() * 1e3,
            ca.stats.queuing_delay.as_secs_f64() * 1e3,
            ca.stats.retransmits,
            ca.stats.timeouts,
        );
        if t == half {
            at_half = pair.b().single().1.received;
        }
    }
    let got = pair.b().single().1.received - at_half;
    let goodput = got as f64 / (total - half).as_secs_f64();
    (goodput, probe, pair)
}

#[test]
fn target_100mbit_20ms_deep_queue() {
    let total = Duration::from_secs(10);
    let (goodput, probe, pair) = long_run(
        "100M/20ms/250ms queue",
        501,
        Config::default(),
        RATE_100M,
        Duration::from_millis(250),
        Duration::from_millis(10),
        total,
    );
    let share = goodput / RATE_100M as f64;
    let probe = probe.borrow();
    let half = Instant::from_micros(total.as_micros() as u64 / 2);
    let delays: Vec<f64> = probe
        .samples
        .iter()
        .filter(|(t, _)| *t >= half)
        .map(|(_, d)| *d)
        .collect();
    let q = median(delays);
    println!(
        "  queue probe: {} samples, {} tail drops, link dropped_queue {}",
        probe.samples.len(),
        probe.drops,
        pair.sim.link_stats(addr_a(), addr_b()).dropped_queue
    );
    let tput_ok = share >= 0.95;
    println!(
        "target 100M-20ms throughput (2nd half, payload): measured {:.1} % of link ({:.2} MB/s), target >= 95 %, {}",
        share * 100.0,
        goodput / 1e6,
        verdict(tput_ok)
    );
    let q_ok = (90.0..=110.0).contains(&q);
    println!(
        "target 100M-20ms median queueing delay (2nd half): measured {q:.1} ms, target 100 ms +- 10 %, {}",
        verdict(q_ok)
    );
    assert!(tput_ok, "throughput regressed: {:.1} %", share * 100.0);
    assert!(q_ok, "median queueing delay {q:.1} ms");
}

#[test]
fn target_1gbit_140ms() {
    let total = Duration::from_secs(10);
    let (goodput, _probe, pair) = long_run(
        "1G/140ms",
        502,
        Config::default(),
        RATE_1G,
        Duration::from_millis(140),
        Duration::from_millis(70),
        total,
    );
    let share = goodput / RATE_1G as f64;
    let ok = share >= 0.90;
    let (_, ca) = pair.a().single();
    let (_, cb) = pair.b().single();
    println!(
        "  buffers grown: sender's send buffer {} B, receiver's receive buffer {} B (start 1 MiB)",
        ca.stats.send_buffer, cb.stats.recv_buffer
    );
    // The 17.5 MB bandwidth-delay product needs both windows well past their start.
    assert!(ca.stats.send_buffer > 17_500_000 && cb.stats.recv_buffer > 17_500_000);
    println!(
        "  link dropped_queue {}",
        pair.sim.link_stats(addr_a(), addr_b()).dropped_queue
    );
    println!(
        "target 1G-140ms throughput (2nd half, payload): measured {:.1} % of link ({:.2} MB/s), target >= 90 %, {}",
        share * 100.0,
        goodput / 1e6,
        verdict(ok)
    );
    assert!(ok, "{:.1} % of a 1 Gbit/s 140 ms path", share * 100.0);
}

/// Two flows from A to B over one 100 Mbit/s, 20 ms bottleneck with 250 ms of queue, the second
/// joining at 2 s; returns each flow's share of the bytes delivered over the last 5 s of
/// `total` seconds.
fn two_flows(name: &'static str, seed: u64, config: Config, total: u64) -> Vec<f64> {
    let one_way = Duration::from_millis(10);
    let queue_time = Duration::from_millis(250);
    // Both flows run between the same two endpoints (two connections), so they cross the same
    // A→B bottleneck: the simulator has one link per address pair.
    let mut pair = Pair::new(
        name,
        seed,
        config,
        bottleneck_link(RATE_100M, queue_time, one_way),
        LinkConfig::new().delay(one_way),
    );
    pair.sim.node_mut(pair.a).keep_log = false;
    pair.sim.node_mut(pair.b).keep_log = false;
    pair.start_transfer(ENDLESS, 0);
    // The second flow starts 2 s later, into a queue the first one already built.
    pair.sim.run_for(Duration::from_secs(2));
    let to = addr_b();
    pair.sim.with_node(pair.a, |n, now| {
        n.connect(now, to, Plan::transfer(ENDLESS, SEED_A, 0, SEED_B))
    });
    pair.sim.run_for(Duration::from_secs(total - 7));
    let mid = b_received(&pair);
    pair.sim.run_for(Duration::from_secs(5));
    let end = b_received(&pair);
    assert_eq!(end.len(), 2, "B accepted both flows");
    let d: Vec<u64> = end.iter().zip(&mid).map(|(e, m)| e - m).collect();
    let sum = (d[0] + d[1]) as f64;
    let cwnds: Vec<u64> = pair.a().conns.values().map(|c| c.stats.cwnd).collect();
    println!(
        "  {name}: flows over the last 5 s: {:?} bytes, total {:.1} % of link, cwnds {:?}",
        d,
        sum / 5.0 / RATE_100M as f64 * 100.0,
        cwnds
    );
    d.iter().map(|x| *x as f64 / sum).collect()
}

#[test]
fn target_two_flows_share_100mbit() {
    let shares = two_flows("two flows", 503, Config::default(), 12);
    let ok = shares.iter().all(|s| (0.40..=0.60).contains(s));
    println!(
        "target two-flow share (late flow joins at 2 s, shares over 7-12 s): measured {:.1} % / {:.1} %, target 40-60 % each, {}",
        shares[0] * 100.0,
        shares[1] * 100.0,
        verdict(ok)
    );
    assert!(ok, "unfair share: {shares:?}");
}

/// Without the path state a new connection inherits from an older one to the same peer (as
/// between connections to different peers behind one bottleneck), plain LEDBAT leaves the
/// latecomer advantage in place; LEDBAT++'s periodic slowdowns let the newcomer see the true
/// base delay.
#[test]
fn two_flows_without_shared_path_state_latecomer_and_ledbat_plus_plus() {
    let unshared = Config {
        share_path_state: false,
        ..Config::default()
    };
    let plain = two_flows("two flows, no shared state", 503, unshared.clone(), 60);
    let plus = two_flows(
        "two flows, no shared state, LEDBAT++",
        503,
        Config {
            ledbat_plus_plus: true,
            ..unshared
        },
        60,
    );
    println!(
        "two flows without shared path state: plain LEDBAT {:.1} % / {:.1} %, LEDBAT++ {:.1} % / {:.1} %",
        plain[0] * 100.0,
        plain[1] * 100.0,
        plus[0] * 100.0,
        plus[1] * 100.0
    );
    let spread = |s: &[f64]| (s[0] - s[1]).abs();
    assert!(
        spread(&plus) < spread(&plain),
        "LEDBAT++ no fairer than plain LEDBAT: {plus:?} against {plain:?}"
    );
}

/// An endpoint whose timestamp clock (the one BEP 29 carries on the wire) is off by `offset_us`
/// from the simulator's: every datagram it sends has its timestamp, and the timestamp difference
/// it echoes (taken on that clock), moved by the offset. The engine's timers are untouched, as a
/// monotonic timer clock would be when the wall clock jumps.
struct Skewed {
    inner: EndpointNode,
    offset_us: i64,
}

impl Node for Skewed {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.inner.handle_datagram(now, from, data);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let t = self.inner.poll_transmit(now, buf)?;
        if self.offset_us != 0 && t.len >= 20 && buf[0] & 0x0f == 1 {
            let off = self.offset_us as i32 as u32;
            let ts = u32::from_be_bytes(buf[4..8].try_into().unwrap()).wrapping_add(off);
            buf[4..8].copy_from_slice(&ts.to_be_bytes());
            let diff = u32::from_be_bytes(buf[8..12].try_into().unwrap());
            if diff != 0 {
                buf[8..12].copy_from_slice(&diff.wrapping_add(off).to_be_bytes());
            }
        }
        Some(t)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
}

/// Runs a 100 Mbit/s / 20 ms transfer, jumps the sender's timestamp clock by `jump_us` at 3 s,
/// and reports the slowest 100 ms and the recovery. Returns (goodput before, worst 100 ms after,
/// time until a 500 ms window is back at 90 % of before (None: never in the run), min cwnd after,
/// the engine's queuing-delay estimate at the end).
fn clock_jump(seed: u64, jump_us: i64) -> (f64, f64, Option<Duration>, u64, Duration) {
    let one_way = Duration::from_millis(10);
    let mut sim: Sim<Skewed> = Sim::new(utp::sim::seed_from_env(seed));
    let s = sim.seed();
    let mk = |salt| {
        let mut n = EndpointNode::new(Endpoint::new(Config::default(), s ^ salt).unwrap());
        n.keep_log = false;
        Skewed {
            inner: n,
            offset_us: 0,
        }
    };
    let a = sim.add_node(addr_a(), mk(0xA));
    let b = sim.add_node(addr_b(), mk(0xB));
    sim.set_link(
        addr_a(),
        addr_b(),
        bottleneck_link(RATE_100M, Duration::from_millis(250), one_way),
    );
    sim.set_link(addr_b(), addr_a(), LinkConfig::new().delay(one_way));
    sim.node_mut(b).inner.accept_plan = Some(Plan::transfer(0, SEED_B, ENDLESS, SEED_A));
    let to = addr_b();
    sim.with_node(a, |n, now| {
        n.inner
            .connect(now, to, Plan::transfer(ENDLESS, SEED_A, 0, SEED_B))
    });
    let tick = Duration::from_millis(100);
    let recv = |sim: &Sim<Skewed>| sim.node(b).inner.single().1.received;
    sim.run_for(Duration::from_secs(2));
    let r2 = recv(&sim);
    sim.run_for(Duration::from_secs(1));
    let before = (recv(&sim) - r2) as f64;
    let cwnd_before = sim.node(a).inner.single().1.stats.cwnd;
    sim.node_mut(a).offset_us = jump_us;
    let mut per_tick = Vec::new();
    let mut min_cwnd = u64::MAX;
    let mut last = recv(&sim);
    for _ in 0..70 {
        sim.run_for(tick);
        let r = recv(&sim);
        per_tick.push((r - last) as f64 / tick.as_secs_f64());
        last = r;
        min_cwnd = min_cwnd.min(sim.node(a).inner.single().1.stats.cwnd);
    }
    let (_, ca) = sim.node(a).inner.single();
    println!(
        "  jump {:+} s: cwnd before {cwnd_before}, min after {min_cwnd}, at end {}, engine queuing delay at end {:.1} ms, timeouts {}",
        jump_us as f64 / 1e6,
        ca.stats.cwnd,
        ca.stats.queuing_delay.as_secs_f64() * 1e3,
        ca.stats.timeouts
    );
    let worst = per_tick.iter().cloned().fold(f64::INFINITY, f64::min);
    let recovered = (0..per_tick.len().saturating_sub(4))
        .find(|&i| per_tick[i..i + 5].iter().sum::<f64>() / 5.0 >= 0.9 * before)
        .map(|i| tick * i as u32);
    let delay_at_end = ca.stats.queuing_delay;
    (before, worst, recovered, min_cwnd, delay_at_end)
}

#[test]
fn target_clock_jump() {
    for (name, jump) in [("+10s", 10_000_000i64), ("-10s", -10_000_000)] {
        let (before, worst, recovered, _min_cwnd, delay_at_end) = clock_jump(504, jump);
        // The delay estimate must come back too: a stale one would pin the window down once it
        // may outgrow the buffer cap, or on a path whose RTT exceeds the target.
        let ok = recovered == Some(Duration::ZERO)
            && worst >= 0.5 * before
            && delay_at_end < Duration::from_millis(200);
        println!(
            "target clock jump {name} on sender: measured rate before {:.2} MB/s, worst 100 ms after {:.2} MB/s, back to 90 % after {}, target no stall/collapse, {}",
            before / 1e6,
            worst / 1e6,
            recovered.map_or("never (7 s observed)".to_string(), |d| format!("{:.1} s", d.as_secs_f64())),
            verdict(ok)
        );
        // After the -10 s jump the estimate used to stay ~10 s off for the 13 minutes of base
        // history; a filtered delay beyond the round trip now restarts the base
        // (`Ledbat::check_for_step`).
        assert!(
            ok,
            "the {name} jump of the sender's clock stalled the transfer or left the delay estimate at {delay_at_end:?}"
        );
    }
}
