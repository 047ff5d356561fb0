//! A peer that dies mid-transfer (SIGKILL, so it sends neither FIN nor RESET) must make our
//! blocked or later reads and writes fail within a bounded time, not hang.
//!
//! The peer is the `utpcat` binary in a child process on 127.0.0.1; our end is a `UtpStream` in
//! the test. After a kill our side learns of the death from the ICMP "port unreachable" its
//! next datagram draws (the runtime receives those with `IP_RECVERR`). A peer that goes silent
//! without any ICMP (gone behind a firewall, or here frozen with SIGSTOP: its socket still
//! exists and swallows our datagrams) must be given up on by the timers instead: the
//! retransmission timeouts when we are sending (`Config::max_retransmits`, about 31 s), the idle
//! timeout when we are only receiving (`Config::idle_timeout`, shortened in that test).
//!
//! The stream's read/write timeout is only a hang detector: when it fires, the test fails.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use utp::proto::Config;
use utp::stream::{SocketOptions, UtpSocket, UtpStream};

/// Data moved before the peer is ended, so its end lands mid-transfer.
const BEFORE_END: usize = 4 << 20;
/// Longest acceptable time from the peer's end to the error. The slowest legitimate path is a
/// sender facing a silent peer: six retransmission timeouts from a 250 ms floor, about 31 s.
const DETECTION_LIMIT: Duration = Duration::from_secs(45);
/// Keepalive and idle timeout of our end in the silent-sender test (defaults: 29 s, 120 s).
const SHORT_KEEPALIVE: Duration = Duration::from_secs(1);
const SHORT_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// How long the child may take to start listening.
const STARTUP_LIMIT: Duration = Duration::from_secs(20);

/// Errors that correctly report a dead peer; `WouldBlock` (our hang detector) is not one.
const DEAD_PEER_ERRORS: [ErrorKind; 6] = [
    ErrorKind::ConnectionReset,
    ErrorKind::ConnectionAborted,
    ErrorKind::ConnectionRefused,
    ErrorKind::TimedOut,
    ErrorKind::BrokenPipe,
    ErrorKind::NotConnected,
];

#[allow(clippy::disallowed_methods)] // the test measures wall time; nothing feeds the engine
fn now() -> Instant {
    Instant::now()
}

/// The child `utpcat`, killed and reaped however the test ends.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `utpcat -l` on 127.0.0.1 (any port), sending whatever `stdin` gives, and returns it
/// with the address it reports.
fn listening_utpcat(stdin: Stdio) -> (Peer, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_utpcat"))
        .args(["-d", "-l", "-s", "127.0.0.1", "-p", "0"])
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn utpcat");
    let stderr = child.stderr.take().expect("child stderr");
    let peer = Peer(child);
    // Read its diagnostics on a thread, so waiting for the port is bounded, and keep draining
    // them so the child never blocks on a full pipe.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("utpcat: listening on ") {
                let _ = tx.send(addr.trim().parse::<SocketAddr>());
            }
        }
    });
    let addr = rx
        .recv_timeout(STARTUP_LIMIT)
        .expect("utpcat did not report its listening address")
        .expect("utpcat printed an unparsable address");
    (peer, addr)
}

/// Connects our stream to the child (setup may be retried: the child may be slow to start).
fn connect(addr: SocketAddr, config: Config) -> (UtpSocket, UtpStream) {
    let options = SocketOptions {
        config,
        ..SocketOptions::default()
    };
    let socket =
        UtpSocket::bind_with("127.0.0.1:0".parse().expect("address"), options).expect("bind");
    let mut last = None;
    for _ in 0..3 {
        match socket.connect(addr) {
            Ok(stream) => return (socket, stream),
            Err(e) => last = Some(e),
        }
    }
    panic!("could not connect to utpcat at {addr}: {last:?}");
}

/// How the peer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// SIGKILL: the process and its socket are gone; our datagrams draw ICMP errors.
    Killed,
    /// SIGSTOP: the process stops answering, its socket silently absorbs what we send.
    Frozen,
}

/// Ends the peer as `how` and returns when. A frozen peer is killed when `peer` is dropped.
fn end_peer(peer: &mut Peer, how: End) -> Instant {
    match how {
        End::Killed => {
            peer.0.kill().expect("SIGKILL utpcat");
            peer.0.wait().expect("reap utpcat");
        }
        End::Frozen => {
            let pid = libc::pid_t::try_from(peer.0.id()).expect("pid fits pid_t");
            // SAFETY: kill(2) with a valid signal number only sends a signal; `pid` is our own
            // child, not yet reaped (its `Child` is held), so the id cannot have been reused.
            let r = unsafe { libc::kill(pid, libc::SIGSTOP) };
            assert_eq!(r, 0, "SIGSTOP utpcat: {}", std::io::Error::last_os_error());
        }
    }
    now()
}

/// Checks the error that ended the loop after the peer's end.
fn assert_dead_peer_error(error: std::io::Error, ended_at: Instant, how: End, what: &str) {
    let after = ended_at.elapsed();
    assert!(
        error.kind() != ErrorKind::WouldBlock,
        "{what} still blocked {after:?} after the peer was {how:?} (hang detector fired): {error}"
    );
    match how {
        End::Killed => assert!(
            DEAD_PEER_ERRORS.contains(&error.kind()),
            "{what} failed with an unexpected error kind {:?}: {error}",
            error.kind()
        ),
        // Nothing but our own timers can tell us.
        End::Frozen => assert_eq!(error.kind(), ErrorKind::TimedOut, "{what}: {error}"),
    }
    assert!(
        after <= DETECTION_LIMIT,
        "{what} reported the {how:?} peer only after {after:?}: {error}"
    );
    eprintln!(
        "{what}, peer {how:?}: {:?} after {after:?}: {error}",
        error.kind()
    );
}

/// We write to a listening `utpcat` receiver, which ends mid-transfer as `how`.
fn writer_sees_the_peer_end(how: End) {
    let (mut peer, addr) = listening_utpcat(Stdio::null());
    let (_socket, mut stream) = connect(addr, Config::default());
    stream
        .set_write_timeout(Some(DETECTION_LIMIT))
        .expect("write timeout");

    let chunk = vec![0x5a_u8; 64 << 10];
    let mut sent = 0;
    while sent < BEFORE_END {
        sent += stream.write(&chunk).expect("write while the peer is alive");
    }
    let ended_at = end_peer(&mut peer, how);

    let error = loop {
        match stream.write(&chunk) {
            Ok(n) => {
                sent += n;
                // Writes may still be absorbed by our send buffer for a while, never forever.
                assert!(
                    ended_at.elapsed() <= DETECTION_LIMIT,
                    "writes kept succeeding {:?} after the peer was {how:?} ({sent} bytes)",
                    ended_at.elapsed()
                );
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break e,
        }
    };
    assert_dead_peer_error(error, ended_at, how, "write");
    // What the writer may have lost is known after the error: every byte it wrote is counted,
    // and no more than that was acknowledged.
    let stats = stream.stats().expect("stats stay readable after the error");
    assert_eq!(stats.bytes_written, sent as u64, "{stats:?}");
    assert!(stats.bytes_acked <= stats.bytes_written, "{stats:?}");
}

/// We read from a listening `utpcat` that sends endlessly, and which ends as `how`.
fn reader_sees_the_peer_end(how: End, config: Config) {
    let zeros = std::fs::File::open("/dev/zero").expect("open /dev/zero");
    let (mut peer, addr) = listening_utpcat(Stdio::from(zeros));
    let (_socket, mut stream) = connect(addr, config);
    stream
        .set_read_timeout(Some(DETECTION_LIMIT))
        .expect("read timeout");
    // As in libutp, the acceptor only sends once it has had data from us.
    stream.write_all(b"go").expect("first write");

    let mut buf = vec![0u8; 64 << 10];
    let mut received = 0;
    while received < BEFORE_END {
        match stream.read(&mut buf).expect("read while the peer is alive") {
            0 => panic!("end of stream after {received} bytes while the peer is alive"),
            n => received += n,
        }
    }
    let ended_at = end_peer(&mut peer, how);

    let error = loop {
        match stream.read(&mut buf) {
            // Data that was already on its way may still be delivered.
            Ok(n) if n > 0 => {
                received += n;
                assert!(
                    ended_at.elapsed() <= DETECTION_LIMIT,
                    "reads kept returning data {:?} after the peer was {how:?} ({received} bytes)",
                    ended_at.elapsed()
                );
            }
            Ok(_) => panic!("the peer sent no FIN, yet the read returned end of stream"),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break e,
        }
    };
    assert_dead_peer_error(error, ended_at, how, "read");
}

#[test]
fn writer_gets_an_error_when_the_receiving_peer_is_killed() {
    writer_sees_the_peer_end(End::Killed);
}

#[test]
fn reader_gets_an_error_when_the_sending_peer_is_killed() {
    reader_sees_the_peer_end(End::Killed, Config::default());
}

#[test]
fn writer_times_out_when_the_receiving_peer_goes_silent() {
    writer_sees_the_peer_end(End::Frozen);
}

#[test]
fn reader_times_out_when_the_sending_peer_goes_silent() {
    let config = Config {
        keepalive: Some(SHORT_KEEPALIVE),
        idle_timeout: Some(SHORT_IDLE_TIMEOUT),
        ..Config::default()
    };
    reader_sees_the_peer_end(End::Frozen, config);
}
