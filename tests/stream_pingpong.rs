//! Small-message exchanges over the blocking stream API, with pauses of every length between
//! them: the runtime's worker polls for a short while after quick traffic ([`SPIN`]) and blocks
//! in `poll(2)` after slow traffic, and no message may be lost or stall in either case.
#![allow(clippy::disallowed_methods)] // The pauses sleep.

mod common;
use common::{localhost, pattern};
use std::io::{Read, Write};
use std::thread;
use std::time::Duration;
use utp::runtime::pool::SPIN;
use utp::stream::{Runtime, SocketOptions, UtpSocket};

/// The pause before round trip `i`: none, shorter than the spin, just past it, and long
/// enough for the worker to block.
fn pause(i: usize) -> Option<Duration> {
    match i % 8 {
        3 => Some(SPIN / 4),
        5 => Some(SPIN * 2),
        7 => Some(Duration::from_millis(2)),
        _ => None,
    }
}

fn echo_round_trips(threads: usize) {
    let options = || SocketOptions {
        runtime: Some(Runtime::new(threads).unwrap()),
        ..SocketOptions::default()
    };
    let server = UtpSocket::bind_with(localhost(), options()).unwrap();
    let client = UtpSocket::bind_with(localhost(), options()).unwrap();
    let addr = server.local_addr().unwrap();
    let echo = thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n]).unwrap();
        }
        s.finish().unwrap();
    });
    let mut c = client.connect(addr).unwrap();
    let data = pattern(9, 64 * 400);
    let mut back = [0u8; 64];
    for (i, msg) in data.chunks(64).enumerate() {
        if let Some(d) = pause(i) {
            thread::sleep(d);
        }
        c.write_all(msg).unwrap();
        c.read_exact(&mut back).unwrap();
        assert_eq!(&back[..], msg, "round trip {i}");
    }
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    echo.join().unwrap();
}

#[test]
fn echoed_messages_with_pauses_of_every_length_arrive_intact() {
    echo_round_trips(1);
}

#[test]
fn the_same_with_two_workers_per_runtime() {
    echo_round_trips(2);
}
