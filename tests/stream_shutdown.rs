//! Dropping a managed socket: its open streams end with errors and its driver thread is
//! joined. In a test binary of its own, so that the process's thread count is this test's.
#![allow(clippy::disallowed_methods)] // Tests of the runtime measure wall-clock time.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};
use utp::stream::UtpSocket;

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn dropping_the_socket_ends_open_streams_and_joins_the_driver() {
    let before = thread_count();
    let server = UtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let client = UtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    assert_eq!(thread_count(), before + 2, "one driver thread per socket");
    let a = client.connect(server.local_addr().unwrap()).unwrap();
    let (b, _) = server.accept().unwrap();
    (&a).write_all(b"in flight").unwrap();
    let started = Instant::now();
    drop(server);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert_eq!(thread_count(), before + 1, "the server's driver was joined");
    let mut buf = [0u8; 32];
    let err = loop {
        match (&b).read(&mut buf) {
            Ok(0) => panic!("a clean EOF after the socket was dropped"),
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::NotConnected);
    assert_eq!(
        (&b).write(b"x").unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    // The client saw the server's FIN.
    let mut rest = Vec::new();
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!((&a).read_to_end(&mut rest).unwrap(), 0);
    drop((a, b));
    drop(client);
    assert_eq!(thread_count(), before, "every driver thread joined");
}
