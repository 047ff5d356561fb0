//! The managed runtime over real loopback UDP, through the blocking stream API.
#![allow(clippy::disallowed_methods)] // Tests of the runtime measure wall-clock time.

mod common;
use common::{localhost, pattern};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;
use utp::stream::{UtpSocket, UtpStream};

fn pair() -> (UtpSocket, UtpSocket, UtpStream, UtpStream) {
    let server = UtpSocket::bind(localhost()).unwrap();
    let client = UtpSocket::bind(localhost()).unwrap();
    let a = client.connect(server.local_addr().unwrap()).unwrap();
    let (b, peer) = server.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(a.peer_addr().unwrap(), server.local_addr().unwrap());
    (server, client, a, b)
}

/// Writes `data`, shuts down writing, and reads everything the peer sends until EOF.
fn exchange(stream: UtpStream, data: Vec<u8>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let writer = stream.try_clone().unwrap();
        let w = thread::spawn(move || {
            (&writer).write_all(&data).unwrap();
            writer.shutdown(Shutdown::Write).unwrap();
        });
        let mut got = Vec::new();
        (&stream).read_to_end(&mut got).unwrap();
        w.join().unwrap();
        got
    })
}

#[test]
fn sixty_four_mib_both_directions_byte_exact() {
    let (_server, _client, a, b) = pair();
    let n = 64 << 20;
    let (da, db) = (pattern(1, n), pattern(2, n));
    let ta = exchange(a, da.clone());
    let tb = exchange(b, db.clone());
    let (got_a, got_b) = (ta.join().unwrap(), tb.join().unwrap());
    assert!(
        got_a == db,
        "A received {} bytes, not B's data",
        got_a.len()
    );
    assert!(
        got_b == da,
        "B received {} bytes, not A's data",
        got_b.len()
    );
}

#[test]
fn two_hundred_concurrent_streams_on_one_socket() {
    let server = UtpSocket::bind(localhost()).unwrap();
    let client = UtpSocket::bind(localhost()).unwrap();
    let addr = server.local_addr().unwrap();
    let count = 200;
    let echo = thread::spawn(move || {
        let mut workers = Vec::new();
        for _ in 0..count {
            let (s, _) = server.accept().unwrap();
            workers.push(thread::spawn(move || {
                let mut buf = Vec::new();
                (&s).read_to_end(&mut buf).unwrap();
                (&s).write_all(&buf).unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                drop(s);
            }));
        }
        for w in workers {
            w.join().unwrap();
        }
        server
    });
    let mut clients = Vec::new();
    for i in 0..count {
        let stream = client.connect(addr).unwrap();
        clients.push(exchange(stream, pattern(100 + i as u64, 16 * 1024 + i)));
    }
    for (i, c) in clients.into_iter().enumerate() {
        assert_eq!(
            c.join().unwrap(),
            pattern(100 + i as u64, 16 * 1024 + i),
            "stream {i} echoed wrongly"
        );
    }
    let _server = echo.join().unwrap();
}

#[test]
fn half_close_keeps_the_other_direction_open() {
    let (_server, _client, a, b) = pair();
    (&a).write_all(b"request").unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    let mut req = Vec::new();
    (&b).read_to_end(&mut req).unwrap();
    assert_eq!(req, b"request");
    // A can still read after shutting down its writing side.
    (&b).write_all(b"response after your FIN").unwrap();
    b.shutdown(Shutdown::Write).unwrap();
    let mut resp = Vec::new();
    (&a).read_to_end(&mut resp).unwrap();
    assert_eq!(resp, b"response after your FIN");
    assert_eq!((&a).write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
}

#[test]
fn read_and_write_timeouts() {
    let (_server, _client, a, b) = pair();
    a.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 16];
    let err = (&a).read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert!(a.set_read_timeout(Some(Duration::ZERO)).is_err());
    // B never reads: A's writes fill the send buffer and the peer's window, then time out.
    a.set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let chunk = vec![0u8; 256 * 1024];
    let mut written = 0usize;
    let err = loop {
        match (&a).write(&chunk) {
            Ok(n) => written += n,
            Err(e) => break e,
        }
        assert!(written < 64 << 20, "writes never blocked");
    };
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert!(
        written >= 1 << 20,
        "wrote only {written} bytes before blocking"
    );
    drop(b);
}

#[test]
fn connect_to_nothing_is_refused_at_once() {
    let client = UtpSocket::bind(localhost()).unwrap();
    // A port with nothing listening: take one and release it.
    let port = std::net::UdpSocket::bind(localhost())
        .unwrap()
        .local_addr()
        .unwrap();
    let started = std::time::Instant::now();
    let err = client.connect(port).unwrap_err();
    // The ICMP port unreachable reaches the engine through IP_RECVERR: no 31 s SYN budget.
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}
