#![cfg(target_os = "linux")]
//! A send the kernel has no room for is held and sent later, never lost (issue 5: "a local
//! send failure (EAGAIN/ENOBUFS from the socket) retried, never counted as network loss").
#![allow(clippy::disallowed_methods)] // Deadlines of a real-socket test are wall-clock time.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use utp::runtime::udp::{UdpOptions, UdpSocket};

/// Runs `body` in a private network namespace whose loopback is shaped by a `tbf` qdisc at
/// 20 Mbit/s with a short queue, so that a burst finds the socket's send buffer full
/// (`EAGAIN`) or the qdisc full (`ENOBUFS`, reported because the runtime's sockets set
/// `IP_RECVERR`). Skips, saying so, without the privileges or `tc`.
fn in_shaped_netns(body: impl FnOnce() + Send + 'static) {
    common::netns::in_private_netns(65_536, || {
        let shaped = Command::new("tc")
            .args([
                "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "20mbit", "burst", "16kb",
                "limit", "32kb",
            ])
            .status()
            .is_ok_and(|s| s.success());
        if !shaped {
            eprintln!("skipped: tc could not shape lo");
            return;
        }
        body();
    });
}

#[test]
fn a_burst_into_a_full_socket_and_queue_arrives_whole_and_in_order() {
    in_shaped_netns(|| {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let sender = UdpSocket::bind(
            any,
            &UdpOptions {
                send_buffer: 64 * 1024,
                ..UdpOptions::default()
            },
        )
        .unwrap();
        let receiver = UdpSocket::bind(
            any,
            &UdpOptions {
                recv_buffer: 8 << 20,
                ..UdpOptions::default()
            },
        )
        .unwrap();
        let to = receiver.local_addr().unwrap();
        let count = 2000u32;
        let mut held_seen = 0;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 2048];
        let mut drain = |got: &mut Vec<u32>| {
            while let Ok((n, _)) = receiver.recv_from(&mut buf) {
                assert_eq!(n, 1400);
                got.push(u32::from_be_bytes(buf[..4].try_into().unwrap()));
            }
        };
        for i in 0..count {
            let mut d = vec![0u8; 1400];
            d[..4].copy_from_slice(&i.to_be_bytes());
            sender
                .send_or_hold(&d, to, false)
                .expect("held, not failed");
            if sender.has_held() {
                held_seen += 1;
                // As the worker does: retry the queue, and come back a millisecond later while
                // anything is left (the engine's window and pacer would slow the producer too).
                assert!(sender.flush_held().is_empty());
                if sender.has_held() {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            drain(&mut got);
        }
        // 2000 x 1400 bytes at 20 Mbit/s take about 1.1 s.
        let deadline = Instant::now() + Duration::from_secs(20);
        while sender.has_held() || got.len() < count as usize {
            assert!(sender.flush_held().is_empty());
            drain(&mut got);
            assert!(
                Instant::now() < deadline,
                "{} of {count} arrived, held: {}",
                got.len(),
                sender.has_held()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        println!("{held_seen} of {count} sends found datagrams held");
        assert!(held_seen > 0, "the shaped link never refused a send");
        let expected: Vec<u32> = (0..count).collect();
        assert_eq!(got, expected, "every datagram, once, in order");
    });
}
