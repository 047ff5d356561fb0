//! Dropping a managed socket: its open streams end with errors, and once no socket uses the
//! runtime its worker threads are joined. In a test binary of its own, so that the process's thread count is this test's.
#![allow(clippy::disallowed_methods)] // Tests of the runtime measure wall-clock time.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};
use utp::stream::{Runtime, SocketOptions, UtpSocket};

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn dropping_the_socket_ends_open_streams_and_joins_the_runtime() {
    let before = thread_count();
    let runtime = Runtime::new(2).unwrap();
    assert_eq!(thread_count(), before + 2, "two worker threads");
    let options = || SocketOptions {
        runtime: Some(runtime.clone()),
        ..SocketOptions::default()
    };
    let server = UtpSocket::bind_with("127.0.0.1:0".parse().unwrap(), options()).unwrap();
    let client = UtpSocket::bind_with("127.0.0.1:0".parse().unwrap(), options()).unwrap();
    drop(runtime);
    assert_eq!(
        thread_count(),
        before + 2,
        "sockets share the pool's threads"
    );
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
    assert_eq!(thread_count(), before + 2, "the client still uses the pool");
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
    assert_eq!(thread_count(), before, "every worker thread joined");

    // The shared default runtime, too, lives only while sockets use it.
    let one = UtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    assert_eq!(thread_count(), before + Runtime::default_threads());
    let two = UtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    assert_eq!(thread_count(), before + Runtime::default_threads());
    drop((one, two));
    assert_eq!(
        thread_count(),
        before,
        "the default runtime's threads joined"
    );
}
