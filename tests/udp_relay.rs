//! The `udp-relay` program over loopback: datagrams pass both ways, delayed, and lost or
//! duplicated at about the rates asked for; its counters at exit agree with what arrived.
#![allow(clippy::disallowed_methods)] // Round trips over real sockets are wall-clock time.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

/// The relay, killed if a test fails before it exits.
struct Relay {
    child: Child,
    stderr: BufReader<ChildStderr>,
    addr: SocketAddr,
}

impl Relay {
    fn start(to: SocketAddr, extra: &[&str]) -> Relay {
        let mut child = Command::new(env!("CARGO_BIN_EXE_udp-relay"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--to",
                &to.to_string(),
                "--duration",
                "30",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start udp-relay");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        stderr.read_line(&mut line).expect("first line");
        let addr = line
            .split_whitespace()
            .skip_while(|w| *w != "on")
            .nth(1)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Relay {
            child,
            stderr,
            addr,
        }
    }

    /// Stops it with SIGTERM and returns its counter lines.
    fn stop(mut self) -> Vec<String> {
        // SAFETY: kill(2) on our own child's pid, which has not been waited for yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "udp-relay exit status {status}");
        let mut out = Vec::new();
        let mut line = String::new();
        while self.stderr.read_line(&mut line).expect("read") > 0 {
            out.push(std::mem::take(&mut line));
        }
        out
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The counter named `what` on the line of direction `dir`.
fn counter(lines: &[String], dir: &str, what: &str) -> u64 {
    let line = lines
        .iter()
        .find(|l| l.contains(&format!(" {dir} ")))
        .expect("counter line");
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words.iter().position(|w| *w == what).expect("counter");
    words[i + 1].parse().expect("number")
}

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s
}

#[test]
fn datagrams_cross_both_ways_after_the_configured_delay() {
    let server = socket();
    let relay = Relay::start(server.local_addr().unwrap(), &["--delay-ms", "30"]);
    let client = socket();
    let mut buf = [0u8; 64];
    for i in 0u32..20 {
        let t0 = Instant::now();
        client.send_to(&i.to_be_bytes(), relay.addr).unwrap();
        let (n, from) = server.recv_from(&mut buf).expect("server gets it");
        assert_eq!(&buf[..n], i.to_be_bytes());
        server.send_to(&buf[..n], from).unwrap();
        let (n, from) = client.recv_from(&mut buf).expect("client gets the echo");
        let rtt = t0.elapsed();
        assert_eq!(from, relay.addr);
        assert_eq!(&buf[..n], i.to_be_bytes());
        assert!(
            rtt >= Duration::from_millis(60),
            "round trip {rtt:?} shorter than 2 x 30 ms"
        );
        assert!(rtt < Duration::from_millis(400), "round trip {rtt:?}");
    }
    let lines = relay.stop();
    assert_eq!(counter(&lines, "c2s", "forwarded"), 20);
    assert_eq!(counter(&lines, "s2c", "forwarded"), 20);
    assert_eq!(counter(&lines, "c2s", "dropped"), 0);
}

#[test]
fn loss_and_duplication_happen_at_about_the_configured_rates() {
    const N: u32 = 5000;
    let server = socket();
    let relay = Relay::start(
        server.local_addr().unwrap(),
        &[
            "--c2s-loss",
            "0.1",
            "--c2s-dup",
            "0.05",
            "--jitter-ms",
            "2",
            "--delay-ms",
            "2",
        ],
    );
    // The server reads while the client sends: its socket buffer is the OS default.
    let reader = std::thread::spawn(move || {
        let mut seen = HashSet::new();
        let mut copies = 0u64;
        let mut buf = [0u8; 64];
        while let Ok((n, _)) = server.recv_from(&mut buf) {
            assert_eq!(n, 4);
            seen.insert(u32::from_be_bytes(buf[..4].try_into().unwrap()));
            copies += 1;
        }
        (seen, copies)
    });
    let client = socket();
    for i in 0..N {
        client.send_to(&i.to_be_bytes(), relay.addr).unwrap();
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let (seen, copies) = reader.join().unwrap();
    let lines = relay.stop();
    let dropped = counter(&lines, "c2s", "dropped");
    let duplicated = counter(&lines, "c2s", "duplicated");
    assert_eq!(counter(&lines, "c2s", "received"), u64::from(N));
    assert_eq!(
        seen.len() as u64,
        u64::from(N) - dropped,
        "distinct datagrams"
    );
    assert_eq!(
        copies,
        u64::from(N) - dropped + duplicated,
        "copies delivered"
    );
    // 10 % of 5000 = 500 +- 21 (one sd); 5 % of the rest = 225 +- 15
    assert!((400..=600).contains(&dropped), "dropped {dropped}");
    assert!((150..=300).contains(&duplicated), "duplicated {duplicated}");
}
