//! A receiver that cannot absorb the sender's window at once: a small, socket-buffer-like queue
//! in front of it, drained at a finite rate, as the OS default UDP receive buffer (208 KiB on
//! Linux) in front of libutp's `ucat` on loopback. The sender's window (1 MiB) is several times
//! that queue, so what matters is how it is sent (paced, not in one burst) and how losses are
//! repaired (without retransmission timeouts, even when the receiver's selective ACKs only
//! cover the 32 packets after the first hole, as libutp's do).

use crate::harness::*;
use std::time::Duration;
use utp::sim::{Impairment, LinkConfig};

/// The receive queue: 128 KiB, what a 208 KiB `SO_RCVBUF` holds of 1402-byte datagrams once
/// the kernel charges each its buffer overhead.
const QUEUE: u64 = 128 * 1024;
/// The receiver's drain rate: 200 MB/s, about what `ucat` reads and writes out on loopback.
const DRAIN: u64 = 200_000_000;

/// A 100 µs round trip with the receiver's queue at the far end of the data direction.
fn into_small_buffer() -> LinkConfig {
    LinkConfig::new()
        .delay(Duration::from_micros(50))
        .then(Impairment::Bottleneck {
            rate: DRAIN,
            queue: QUEUE,
        })
}

fn overflow_transfer(name: &'static str, seed: u64, sack_limit: Option<usize>) -> Summary {
    let mut pair = Pair::new(
        name,
        seed,
        utp::proto::Config::default(),
        into_small_buffer(),
        delay_ms(0).delay(Duration::from_micros(50)),
    );
    pair.sim.node_mut(pair.b).sack_limit = sack_limit;
    pair.start_transfer(20 * MIB, 0);
    assert!(
        pair.run_until_closed(Duration::from_secs(30)),
        "{name}: not finished in 30 s of virtual time"
    );
    let s = pair.assert_clean_transfer(20 * MIB, 0);
    let dropped = pair.sim.link_stats(addr_a(), addr_b()).dropped_queue;
    println!("{name}: {dropped} datagrams dropped at the receive queue");
    s
}

#[test]
fn a_large_window_into_a_small_receive_queue_completes_without_timeouts() {
    let s = overflow_transfer("20 MiB into a 128 KiB receive queue", 30, None);
    assert_eq!(s.stats[0].timeouts, 0, "losses repaired without a timeout");
    // 20 MiB at 200 MB/s take 0.105 s; allow for the losses that find the queue's size.
    assert!(
        s.elapsed < Duration::from_millis(300),
        "took {:?}",
        s.elapsed
    );
}

#[test]
fn a_receiver_with_libutp_sized_selective_acks_gets_no_timeouts_either() {
    let s = overflow_transfer("20 MiB into a 128 KiB queue, 4-byte SACK", 31, Some(4));
    assert_eq!(s.stats[0].timeouts, 0, "losses repaired without a timeout");
    assert!(
        s.elapsed < Duration::from_millis(300),
        "took {:?}",
        s.elapsed
    );
}
