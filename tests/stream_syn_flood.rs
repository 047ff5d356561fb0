//! The managed runtime's accept queue under a SYN flood: connections the engine evicts as
//! half-open leave the queue at once, so a flood cannot fill the backlog and lock out a
//! genuine peer.
#![allow(clippy::disallowed_methods)] // Tests of the runtime wait on wall-clock time.

mod common;
use common::forge::syn;
use common::localhost;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::thread;
use std::time::Duration;
use utp::proto::Config;
use utp::stream::{SocketOptions, UtpSocket};

#[test]
fn a_syn_flood_cannot_fill_the_backlog() {
    const BACKLOG: usize = 4;
    const HALF_OPEN: usize = 2;
    let defaults = SocketOptions::default();
    let options = SocketOptions {
        backlog: BACKLOG,
        config: Config {
            max_half_open: HALF_OPEN,
            ..defaults.config.clone()
        },
        ..defaults
    };
    let server = UtpSocket::bind_with(localhost(), options).unwrap();
    let to = server.local_addr().unwrap();
    // Ten SYNs that are never followed up, as a flood's are: without the runtime dropping
    // evicted connections from its queue, the backlog fills after four and the genuine peer
    // below is refused.
    let flooder = UdpSocket::bind(localhost()).unwrap();
    for id in 0..10u16 {
        flooder.send_to(&syn(1000 + id * 7, 1), to).unwrap();
    }
    let mut waited = Duration::ZERO;
    while server.connection_count() < HALF_OPEN && waited < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(10));
        waited += Duration::from_millis(10);
    }
    thread::sleep(Duration::from_millis(100));
    assert!(
        server.connection_count() <= HALF_OPEN,
        "server holds {} connections",
        server.connection_count()
    );
    let client = UtpSocket::bind(localhost()).unwrap();
    let stream = client
        .connect(to)
        .expect("a genuine peer connects during the flood");
    (&stream).write_all(b"hi").unwrap();
    // The queue holds at most the half-open survivors before the genuine connection.
    for _ in 0..=HALF_OPEN {
        let (accepted, peer) = server.accept().unwrap();
        if peer == client.local_addr().unwrap() {
            let mut got = [0u8; 2];
            (&accepted).read_exact(&mut got).unwrap();
            assert_eq!(&got, b"hi");
            return;
        }
    }
    panic!(
        "the genuine connection was not among the first {} accepted",
        HALF_OPEN + 1
    );
}
