//! Bulk transfer in both directions at once over impaired paths.

use crate::harness::*;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use utp::proto::SeqNr;
use utp::sim::{LinkConfig, Verdict};

const TEN_MIB: u64 = 10 * MIB;

fn transfer(name: &'static str, seed: u64, link: LinkConfig, limit_s: u64) -> Summary {
    let mut pair = Pair::symmetric(name, seed, link);
    pair.start_transfer(TEN_MIB, TEN_MIB);
    assert!(
        pair.run_until_closed(Duration::from_secs(limit_s)),
        "{name}: not finished in {limit_s} s of virtual time"
    );
    pair.assert_clean_transfer(TEN_MIB, TEN_MIB)
}

/// 20 ms RTT with a 100 Mbit/s bottleneck holding 200 ms of queue each way.
fn path_20ms() -> LinkConfig {
    delay_ms(10).then(utp::sim::Impairment::Bottleneck {
        rate: 12_500_000,
        queue: 2_500_000,
    })
}

#[test]
fn loss_free_and_one_percent_loss_on_a_20ms_path() {
    let clean = transfer("10 MiB x2, 20 ms RTT, 0% loss", 10, path_20ms(), 120);
    assert_eq!(clean.retransmits(), 0, "no loss, no retransmission");
    assert_eq!(clean.timeouts(), 0);
    let lossy = transfer(
        "10 MiB x2, 20 ms RTT, 1% loss",
        11,
        path_20ms().loss(0.01),
        300,
    );
    assert!(
        lossy.timeouts() <= 1,
        "{} retransmission timeouts at 1% loss",
        lossy.timeouts()
    );
    println!(
        "goodput at 1% loss: {:.2} MiB/s vs {:.2} MiB/s loss-free ({:.0}%)",
        lossy.goodput_mib_s(),
        clean.goodput_mib_s(),
        100.0 * lossy.goodput_mib_s() / clean.goodput_mib_s()
    );
}

#[test]
fn five_percent_loss() {
    transfer(
        "10 MiB x2, 20 ms RTT, 5% loss",
        12,
        path_20ms().loss(0.05),
        600,
    );
}

#[test]
fn twenty_percent_loss() {
    transfer(
        "10 MiB x2, 20 ms RTT, 20% loss",
        13,
        delay_ms(10).loss(0.20),
        3600,
    );
}

#[test]
fn heavy_reordering() {
    // Up to 30 ms of jitter on a 10 ms path: datagrams overtake each other constantly.
    let s = transfer(
        "10 MiB x2, jitter 0-30 ms",
        14,
        delay_ms(10).jitter(Duration::from_millis(30)),
        600,
    );
    assert_eq!(s.timeouts(), 0, "reordering alone must not cause timeouts");
}

#[test]
fn ten_percent_duplication() {
    let s = transfer(
        "10 MiB x2, 10% duplication",
        15,
        delay_ms(10).duplicate(0.10, Duration::from_millis(5)),
        120,
    );
    assert!(
        s.stats.iter().any(|st| st.duplicates_received > 0),
        "duplicates were seen"
    );
}

#[test]
fn long_300ms_path() {
    transfer("10 MiB x2, 300 ms RTT", 16, delay_ms(150), 600);
}

#[test]
fn sequence_numbers_wrap_mid_transfer() {
    let mut pair = Pair::symmetric("10 MiB x2 across the seq wrap", 17, delay_ms(5));
    pair.sim
        .node_mut(pair.a)
        .endpoint
        .force_next_initial_seq(SeqNr(0xFF00));
    pair.sim
        .node_mut(pair.b)
        .endpoint
        .force_next_initial_seq(SeqNr(0xFFF0));
    pair.start_transfer(TEN_MIB, TEN_MIB);
    assert!(pair.run_until_closed(Duration::from_secs(120)));
    pair.assert_clean_transfer(TEN_MIB, TEN_MIB);
}

#[test]
fn burst_of_300_lost_packets_recovers_without_timeout() {
    let mut pair = Pair::symmetric("burst of 300 lost packets", 18, path_20ms());
    let dropped = Rc::new(Cell::new(0u32));
    let counter = dropped.clone();
    let from = addr_a();
    pair.sim.add_hook(move |info| {
        // 300 consecutive data packets from A, once its window is open.
        if info.from == from
            && info.data.first() == Some(&0x01)
            && info.index >= 3000
            && counter.get() < 300
        {
            counter.set(counter.get() + 1);
            return Verdict::Drop;
        }
        Verdict::Pass
    });
    pair.start_transfer(TEN_MIB, 0);
    assert!(pair.run_until_closed(Duration::from_secs(120)));
    assert_eq!(dropped.get(), 300);
    let s = pair.assert_clean_transfer(TEN_MIB, 0);
    assert_eq!(
        s.stats[0].timeouts, 0,
        "a burst recovered by selective ACKs, not by a timeout"
    );
    assert!(s.stats[0].retransmits >= 300);
}

#[test]
fn corrupted_datagrams_never_stall_or_panic() {
    // uTP has no checksum: flipped payload bits reach the application, so only liveness is
    // asserted: both sides end (completed or failed), and the endpoint then serves a new
    // connection cleanly.
    let mut pair = Pair::symmetric("1% corrupted datagrams", 19, delay_ms(10).corrupt(0.01, 3));
    pair.start_transfer(2 * MIB, 2 * MIB);
    assert!(
        pair.run_until_closed(Duration::from_secs(600)),
        "corruption stalled the transfer"
    );
    pair.summary().print();
    // A fresh, clean connection on the same endpoints.
    pair.sim.set_link(addr_a(), addr_b(), delay_ms(10));
    pair.sim.set_link(addr_b(), addr_a(), delay_ms(10));
    pair.sim.node_mut(pair.a).conns.clear();
    pair.sim.node_mut(pair.b).conns.clear();
    pair.start_transfer(MIB, MIB);
    assert!(
        pair.run_until_closed(Duration::from_secs(120)),
        "the endpoint no longer serves connections"
    );
    pair.assert_clean_transfer(MIB, MIB);
}

#[test]
fn zero_window_stall_then_resume() {
    let mut pair = Pair::symmetric("zero window then resume", 20, delay_ms(10));
    pair.start_transfer(4 * MIB, 0);
    // B reads nothing until told: its 1 MiB receive buffer fills and the window closes.
    let b = pair.b;
    let deadline = pair.sim.now() + Duration::from_millis(50);
    pair.sim
        .run_until(deadline, |sim| !sim.node(b).conns.is_empty());
    let hb = pair.b().single().0;
    pair.sim.node_mut(b).conns.get_mut(&hb).unwrap().read_paused = true;
    pair.sim.run_for(Duration::from_secs(20));
    let stalled = pair.b().endpoint.readable_len(hb).unwrap() as u64;
    let recv_buffer = pair.b().endpoint.config().recv_buffer as u64;
    assert!(
        stalled >= recv_buffer - 2 * 1382 && stalled <= recv_buffer + 1382,
        "buffered {stalled}"
    );
    assert!(
        only(pair.a()).errors.is_empty(),
        "a zero window is not an error"
    );
    // Resume reading: the transfer completes.
    pair.sim.with_node(b, |node, now| {
        node.conns.get_mut(&hb).unwrap().read_paused = false;
        node.kick(hb);
        node.pump(now);
    });
    assert!(
        pair.run_until_closed(Duration::from_secs(120)),
        "did not resume"
    );
    pair.assert_clean_transfer(4 * MIB, 0);
}
