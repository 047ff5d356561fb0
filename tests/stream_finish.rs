//! `UtpStream::finish`: it returns only once the peer has acknowledged everything written, so
//! a program that exits right after it loses nothing; it honours the write timeout and ends
//! promptly when the peer closes without reading. The reader is made slow with a small fixed
//! receive buffer, so data stays unacknowledged for longer than the socket's `SHUTDOWN_GRACE`.
#![allow(clippy::disallowed_methods)] // Tests of the runtime measure wall-clock time.

mod common;

use common::{localhost, pattern};
use std::io::{ErrorKind, Read, Write};
use std::thread;
use std::time::{Duration, Instant};
use utp::stream::{UtpSocket, SHUTDOWN_GRACE};

/// A socket whose connections hold at most 64 KiB of received data (fixed: no autotuning).
fn small_receiver() -> UtpSocket {
    UtpSocket::bind_with(localhost(), common::fixed_receive_buffer(64 * 1024)).unwrap()
}

#[test]
fn finish_returns_after_the_slow_reader_got_everything_and_exit_loses_nothing() {
    let server = small_receiver();
    let addr = server.local_addr().unwrap();
    // The reader waits longer than the grace a dropped socket gives its connections.
    let pause = SHUTDOWN_GRACE + Duration::from_secs(1);
    let reader = thread::spawn(move || {
        let (mut stream, _) = server.accept().unwrap();
        thread::sleep(pause);
        let started = Instant::now();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        (got, started)
    });
    let data = pattern(7, 512 * 1024);
    let client = UtpSocket::bind(localhost()).unwrap();
    let mut stream = client.connect(addr).unwrap();
    let began = Instant::now();
    stream.write_all(&data).unwrap();
    stream.finish().unwrap();
    let finished = Instant::now();
    // Exit as a program would: every handle and the socket go at once.
    drop(stream);
    drop(client);
    let (got, reading_started) = reader.join().unwrap();
    assert_eq!(got.len(), data.len(), "bytes delivered");
    assert!(got == data, "payload corrupted");
    assert!(
        finished >= reading_started,
        "finish returned {:?} after the write began, before the reader had started reading \
         ({:?}): most of the data could not have been acknowledged yet",
        finished - began,
        reading_started - began
    );
}

#[test]
fn finish_times_out_with_the_write_timeout_while_the_peer_does_not_read() {
    let server = small_receiver();
    let addr = server.local_addr().unwrap();
    let client = UtpSocket::bind(localhost()).unwrap();
    let stream = client.connect(addr).unwrap();
    let (held, _) = server.accept().unwrap();
    // Four times what the peer's buffer takes: most of it waits for a read that never comes.
    let data = pattern(8, 256 * 1024);
    (&stream).write_all(&data).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let started = Instant::now();
    let err = stream.finish().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "finish waited {waited:?} with a 500 ms write timeout"
    );
    // The connection is still usable: once the peer reads, a second finish succeeds.
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        (&held).read_to_end(&mut got).unwrap();
        got
    });
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.finish().unwrap();
    drop(stream);
    assert!(
        reader.join().unwrap() == data,
        "payload after a second finish"
    );
}

#[test]
fn finish_ends_without_waiting_for_the_timeout_when_the_peer_closes_unread() {
    let server = small_receiver();
    let addr = server.local_addr().unwrap();
    let client = UtpSocket::bind(localhost()).unwrap();
    let stream = client.connect(addr).unwrap();
    let (held, _) = server.accept().unwrap();
    (&stream).write_all(&pattern(9, 256 * 1024)).unwrap();
    // The peer's socket closes without reading. A closing connection acknowledges and drops
    // what still arrives (as libutp's does after utp_close), then goes away after the socket's
    // grace: finish either sees everything acknowledged or the connection's end, and which one
    // depends on timing. Either way it must not sit out its 60 s write timeout.
    let closer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        drop(held);
        drop(server);
    });
    stream
        .set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let started = Instant::now();
    let result = stream.finish();
    closer.join().unwrap();
    if let Err(err) = result {
        assert_ne!(
            err.kind(),
            ErrorKind::TimedOut,
            "{err}: the peer's departure went unnoticed"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(50));
}
