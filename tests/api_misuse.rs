//! API misuse of the Rust stream API (issue 8), as a table: each row is a call made in a wrong
//! or unusual situation (a refused or reset peer, after shutdown, after the peer finished, after
//! the `UtpSocket` or the listening socket is dropped, zero-length buffers, zero timeouts,
//! several threads on cloned handles) and the result it documents: an `io::ErrorKind` (as
//! `std::net::TcpStream` gives in the same situation where there is one) or a byte count.
//! After every row, a healthy connection of the same two sockets moves 64 KiB each way and
//! every byte is checked.
#![allow(clippy::disallowed_methods)] // Tests of the runtime measure wall-clock time.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, UdpSocket as StdUdp};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use utp::stream::{UtpSocket, UtpStream};

/// What a row's call gave: a byte count (0 for calls that return `()`), or the error's kind.
type Outcome = Result<usize, ErrorKind>;

fn outcome<T>(r: std::io::Result<T>, n: impl FnOnce(T) -> usize) -> Outcome {
    r.map(n).map_err(|e| e.kind())
}

fn unit(r: std::io::Result<()>) -> Outcome {
    outcome(r, |()| 0)
}

/// Two sockets with a healthy connection between them.
struct Fixture {
    server: UtpSocket,
    client: UtpSocket,
    healthy: (UtpStream, UtpStream),
    offset: [u64; 2],
}

fn pattern(key: u64, offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| {
            let x = (offset + i).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ key;
            (x >> 29) as u8
        })
        .collect()
}

impl Fixture {
    fn new() -> Fixture {
        let server = UtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let client = UtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let a = client.connect(server.local_addr().unwrap()).unwrap();
        let (b, _) = server.accept().unwrap();
        for s in [&a, &b] {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        Fixture {
            server,
            client,
            healthy: (a, b),
            offset: [0, 0],
        }
    }

    /// A second connection between the two sockets: (client end, server end).
    fn pair(&self) -> (UtpStream, UtpStream) {
        let a = self
            .client
            .connect(self.server.local_addr().unwrap())
            .unwrap();
        let (b, _) = self.server.accept().unwrap();
        (a, b)
    }

    /// 64 KiB each way on the healthy connection, at once, every byte checked.
    fn check_healthy(&mut self, row: &str) {
        const LEN: usize = 64 * 1024;
        let (a, b) = &self.healthy;
        let out_ab = pattern(0xAB, self.offset[0], LEN);
        let out_ba = pattern(0xBA, self.offset[1], LEN);
        thread::scope(|scope| {
            let w = scope.spawn(|| (&*a).write_all(&out_ab));
            (&*b).write_all(&out_ba).unwrap();
            let mut got = vec![0u8; LEN];
            (&*b).read_exact(&mut got).unwrap();
            assert!(
                got == out_ab,
                "{row}: the healthy connection corrupted A->B"
            );
            (&*a).read_exact(&mut got).unwrap();
            assert!(
                got == out_ba,
                "{row}: the healthy connection corrupted B->A"
            );
            w.join().unwrap().unwrap();
        });
        self.offset[0] += LEN as u64;
        self.offset[1] += LEN as u64;
    }
}

/// A UDP port nobody listens on (bound, then closed): the kernel answers with ICMP port
/// unreachable.
fn closed_port() -> SocketAddr {
    let s = StdUdp::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

/// A peer that accepts one connection (a STATE answering the SYN) and answers its first data
/// packet with a RESET, by hand (BEP 29 header).
fn resetting_peer() -> SocketAddr {
    let sock = StdUdp::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    thread::spawn(move || {
        let header = |kind: u8, connid: u16, seq: u16, ack: u16| {
            let mut h = [0u8; 20];
            h[0] = (kind << 4) | 1;
            h[2..4].copy_from_slice(&connid.to_be_bytes());
            h[12..16].copy_from_slice(&1_048_576u32.to_be_bytes());
            h[16..18].copy_from_slice(&seq.to_be_bytes());
            h[18..20].copy_from_slice(&ack.to_be_bytes());
            h
        };
        let mut buf = [0u8; 2048];
        let mut recv_id = None;
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if n < 20 {
                continue;
            }
            let kind = buf[0] >> 4;
            let connid = u16::from_be_bytes([buf[2], buf[3]]);
            let seq = u16::from_be_bytes([buf[16], buf[17]]);
            match kind {
                4 => {
                    recv_id = Some(connid);
                    let _ = sock.send_to(&header(2, connid, 1000, seq), from);
                }
                0 => {
                    let id = recv_id.unwrap_or(connid.wrapping_sub(1));
                    let _ = sock.send_to(&header(3, id, 1001, seq), from);
                    return;
                }
                _ => {}
            }
        }
    });
    addr
}

/// A connection to [`resetting_peer`], already reset.
fn reset_stream(f: &Fixture) -> UtpStream {
    let s = f.client.connect(resetting_peer()).unwrap();
    (&s).write_all(b"provoke the reset").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    let e = (&s).read(&mut buf).expect_err("the reset");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    s
}

/// A connection whose client end belongs to a third socket, which is then dropped.
fn orphaned_stream(f: &Fixture) -> UtpStream {
    let third = UtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let s = third.connect(f.server.local_addr().unwrap()).unwrap();
    let (peer, _) = f.server.accept().unwrap();
    drop(third);
    drop(peer);
    s
}

/// A connection accepted by a listening socket that is then dropped (the listener's end).
fn listener_dropped_stream(f: &Fixture) -> UtpStream {
    let listener = UtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let c = f.client.connect(listener.local_addr().unwrap()).unwrap();
    let (s, _) = listener.accept().unwrap();
    drop(listener);
    drop(c);
    s
}

fn read1(s: &UtpStream) -> Outcome {
    let mut buf = [0u8; 64];
    outcome((&*s).read(&mut buf), |n| n)
}

fn write1(s: &UtpStream) -> Outcome {
    outcome((&*s).write(b"0123456789"), |n| n)
}

/// Several threads on clones of one stream: a writer and a reader each way, and one calling
/// the other methods; 1 MiB each way must arrive intact.
fn threads_on_clones(f: &Fixture) -> Outcome {
    const LEN: usize = 1 << 20;
    let (a, b) = f.pair();
    let data_ab = pattern(1, 0, LEN);
    let data_ba = pattern(2, 0, LEN);
    thread::scope(|scope| {
        let (a1, a2, a3, b1, b2) = (
            a.try_clone().unwrap(),
            a.try_clone().unwrap(),
            a.try_clone().unwrap(),
            b.try_clone().unwrap(),
            b.try_clone().unwrap(),
        );
        let w1 = scope.spawn(move || (&a1).write_all(&data_ab).map(|()| a1));
        let w2 = scope.spawn(move || (&b1).write_all(&data_ba).map(|()| b1));
        let r1 = scope.spawn(move || {
            let mut got = vec![0u8; LEN];
            (&b2)
                .read_exact(&mut got)
                .map(|()| got == pattern(1, 0, LEN))
        });
        let r2 = scope.spawn(move || {
            let mut got = vec![0u8; LEN];
            (&a2)
                .read_exact(&mut got)
                .map(|()| got == pattern(2, 0, LEN))
        });
        let busy = scope.spawn(move || {
            for _ in 0..200 {
                a3.stats()?;
                a3.set_read_timeout(Some(Duration::from_secs(30)))?;
                a3.peer_addr()?;
            }
            Ok::<(), std::io::Error>(())
        });
        w1.join().unwrap().map_err(|e| e.kind())?;
        w2.join().unwrap().map_err(|e| e.kind())?;
        busy.join().unwrap().map_err(|e| e.kind())?;
        let ok = r1.join().unwrap().map_err(|e| e.kind())?
            && r2.join().unwrap().map_err(|e| e.kind())?;
        Ok(if ok { 2 * LEN } else { 0 })
    })
}

/// A read blocked on one thread ends when the stream's socket is dropped on another.
fn blocked_read_ends_when_socket_dropped(f: &Fixture) -> Outcome {
    let third = UtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let s = third.connect(f.server.local_addr().unwrap()).unwrap();
    let (_peer, _) = f.server.accept().unwrap();
    let reader = s.try_clone().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(read1(&reader));
    });
    thread::sleep(Duration::from_millis(100));
    drop(third);
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or(Err(ErrorKind::Other))
}

struct Row {
    name: &'static str,
    run: fn(&Fixture) -> Outcome,
    want: Outcome,
}

#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row { name: "connect to a closed port", want: Err(ErrorKind::ConnectionRefused),
          run: |f| outcome(f.client.connect(closed_port()), |_| 0) },
    Row { name: "read into an empty buffer", want: Ok(0),
          run: |f| outcome((&f.pair().0).read(&mut []), |n| n) },
    Row { name: "write of an empty buffer", want: Ok(0),
          run: |f| outcome((&f.pair().0).write(&[]), |n| n) },
    Row { name: "set_read_timeout(Some(0))", want: Err(ErrorKind::InvalidInput),
          run: |f| unit(f.pair().0.set_read_timeout(Some(Duration::ZERO))) },
    Row { name: "set_write_timeout(Some(0))", want: Err(ErrorKind::InvalidInput),
          run: |f| unit(f.pair().0.set_write_timeout(Some(Duration::ZERO))) },
    Row { name: "read with nothing coming, 50 ms timeout", want: Err(ErrorKind::WouldBlock),
          run: |f| {
              let (a, _b) = f.pair();
              a.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
              read1(&a)
          } },
    Row { name: "write after shutdown(Write)", want: Err(ErrorKind::BrokenPipe),
          run: |f| { let (a, _b) = f.pair(); a.shutdown(Shutdown::Write).unwrap(); write1(&a) } },
    Row { name: "write after shutdown(Both)", want: Err(ErrorKind::BrokenPipe),
          run: |f| { let (a, _b) = f.pair(); a.shutdown(Shutdown::Both).unwrap(); write1(&a) } },
    Row { name: "shutdown(Write) twice", want: Ok(0),
          run: |f| {
              let (a, _b) = f.pair();
              a.shutdown(Shutdown::Write).unwrap();
              unit(a.shutdown(Shutdown::Write))
          } },
    Row { name: "read after shutdown(Read): end of stream", want: Ok(0),
          run: |f| {
              let (a, b) = f.pair();
              (&b).write_all(b"discarded").unwrap();
              a.shutdown(Shutdown::Read).unwrap();
              read1(&a)
          } },
    Row { name: "finish twice", want: Ok(0),
          run: |f| { let (a, _b) = f.pair(); a.finish().unwrap(); unit(a.finish()) } },
    Row { name: "write after finish", want: Err(ErrorKind::BrokenPipe),
          run: |f| { let (a, _b) = f.pair(); a.finish().unwrap(); write1(&a) } },
    Row { name: "read after the peer finished, twice: end of stream", want: Ok(0),
          run: |f| {
              let (a, b) = f.pair();
              b.finish().unwrap();
              assert_eq!(read1(&a), Ok(0));
              read1(&a)
          } },
    Row { name: "read after the peer reset", want: Err(ErrorKind::ConnectionReset),
          run: |f| read1(&reset_stream(f)) },
    Row { name: "write after the peer reset", want: Err(ErrorKind::ConnectionReset),
          run: |f| write1(&reset_stream(f)) },
    Row { name: "shutdown after the peer reset", want: Err(ErrorKind::ConnectionReset),
          run: |f| unit(reset_stream(f).shutdown(Shutdown::Write)) },
    Row { name: "finish after the peer reset", want: Err(ErrorKind::ConnectionReset),
          run: |f| unit(reset_stream(f).finish()) },
    Row { name: "stats after the peer reset: the counters stay readable", want: Ok(0),
          run: |f| outcome(reset_stream(f).stats(), |_| 0) },
    Row { name: "read after its socket is dropped", want: Err(ErrorKind::NotConnected),
          run: |f| read1(&orphaned_stream(f)) },
    Row { name: "write after its socket is dropped", want: Err(ErrorKind::NotConnected),
          run: |f| write1(&orphaned_stream(f)) },
    Row { name: "shutdown after its socket is dropped", want: Err(ErrorKind::NotConnected),
          run: |f| unit(orphaned_stream(f).shutdown(Shutdown::Write)) },
    Row { name: "finish after its socket is dropped", want: Err(ErrorKind::NotConnected),
          run: |f| unit(orphaned_stream(f).finish()) },
    Row { name: "stats after its socket is dropped", want: Err(ErrorKind::NotConnected),
          run: |f| outcome(orphaned_stream(f).stats(), |_| 0) },
    Row { name: "peer_addr after its socket is dropped", want: Ok(0),
          run: |f| outcome(orphaned_stream(f).peer_addr(), |_| 0) },
    Row { name: "read on an accepted stream after the listener is dropped",
          want: Err(ErrorKind::NotConnected),
          run: |f| read1(&listener_dropped_stream(f)) },
    Row { name: "write on an accepted stream after the listener is dropped",
          want: Err(ErrorKind::NotConnected),
          run: |f| write1(&listener_dropped_stream(f)) },
    Row { name: "a read blocked on another thread when the socket is dropped",
          want: Err(ErrorKind::NotConnected),
          run: blocked_read_ends_when_socket_dropped },
    Row { name: "writers, readers and getters on clones in five threads", want: Ok(2 << 20),
          run: threads_on_clones },
    Row { name: "a clone keeps working after the original is dropped", want: Ok(10),
          run: |f| {
              let (a, b) = f.pair();
              let keep = a.try_clone().unwrap();
              drop(a);
              let n = write1(&keep);
              let mut got = [0u8; 10];
              (&b).read_exact(&mut got).unwrap();
              assert_eq!(&got, b"0123456789");
              n
          } },
];

#[test]
fn every_misuse_gives_its_documented_result_and_spares_the_healthy_connection() {
    let mut f = Fixture::new();
    f.check_healthy("before the table");
    let mut wrong = Vec::new();
    for row in ROWS {
        let got = (row.run)(&f);
        if got != row.want {
            wrong.push(format!(
                "{}: got {:?}, expected {:?}",
                row.name, got, row.want
            ));
        }
        f.check_healthy(row.name);
    }
    assert!(
        wrong.is_empty(),
        "rows with the wrong result:\n{}",
        wrong.join("\n")
    );
}
