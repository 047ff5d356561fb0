//! What the application learns on the error paths: how much of what it wrote the peer
//! acknowledged (`ConnectionStats::bytes_written` and `bytes_acked`), after a complete
//! transfer, after the peer reset the connection, and after the peer vanished.

use super::test_support::{a, b, ms};
use super::*;
use crate::proto::ConnectionError;

struct Pair {
    ea: Endpoint,
    eb: Endpoint,
    ha: ConnectionHandle,
    hb: Option<ConnectionHandle>,
    now: u64,
    /// B reads at most this many bytes in total (it stops reading beyond).
    read_limit: usize,
    read: usize,
    /// The network carries nothing.
    cut: bool,
    a_error: Option<ConnectionError>,
}

impl Pair {
    fn new() -> Pair {
        let mut ea = Endpoint::new(Config::default(), 1).expect("endpoint");
        let eb = Endpoint::new(Config::default(), 2).expect("endpoint");
        let ha = ea.connect(ms(0), b()).expect("connect");
        Pair {
            ea,
            eb,
            ha,
            hb: None,
            now: 0,
            read_limit: usize::MAX,
            read: 0,
            cut: false,
            a_error: None,
        }
    }

    fn step(&mut self) {
        self.now += 1;
        let now = ms(self.now);
        self.ea.handle_timeout(now);
        self.eb.handle_timeout(now);
        let mut buf = vec![0u8; 65_536];
        while let Some(t) = self.ea.poll_transmit(now, &mut buf) {
            if self.cut {
                continue;
            }
            if let DatagramEvent::Incoming(i) = self.eb.handle_datagram(now, a(), &buf[..t.len]) {
                self.hb = Some(self.eb.accept(now, i).expect("accept"));
            }
        }
        while let Some(t) = self.eb.poll_transmit(now, &mut buf) {
            if !self.cut {
                self.ea.handle_datagram(now, b(), &buf[..t.len]);
            }
        }
        if let Some(hb) = self.hb {
            let mut chunk = vec![0u8; 4096];
            while self.read < self.read_limit {
                let want = chunk.len().min(self.read_limit - self.read);
                match self.eb.read(hb, &mut chunk[..want]) {
                    Ok(n @ 1..) => self.read += n,
                    _ => break,
                }
            }
        }
        while let Some((h, e)) = self.ea.poll_event() {
            if let (true, Event::Error(e)) = (h == self.ha, e) {
                self.a_error = Some(e);
            }
        }
        while self.eb.poll_event().is_some() {}
    }

    /// Writes `total` bytes from A, as fast as its send buffer takes them, stepping until
    /// `done` or 60 virtual seconds pass.
    fn run(&mut self, total: usize, mut done: impl FnMut(&Pair) -> bool) {
        let data = vec![0x5a; 64 * 1024];
        let mut written = 0;
        for _ in 0..60_000 {
            if written < total && self.ea.state(self.ha) == Ok(crate::proto::State::Connected) {
                let n = (total - written).min(data.len());
                if let Ok(k) = self.ea.write(self.ha, &data[..n]) {
                    written += k;
                }
            }
            self.step();
            if done(self) {
                return;
            }
        }
        panic!("did not finish in 60 s of virtual time");
    }

    fn a_stats(&self) -> ConnectionStats {
        self.ea.connection_stats(self.ha).expect("A's stats")
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "megabytes through two engines: hours under Miri; no unsafe code on this path"
)]
fn a_complete_transfer_is_acknowledged_to_the_last_byte() {
    let mut p = Pair::new();
    let total = 3 * 1024 * 1024 + 17;
    p.run(total, |p| p.a_stats().bytes_acked == total as u64);
    let s = p.a_stats();
    assert_eq!(
        (s.bytes_written, s.bytes_acked),
        (total as u64, total as u64)
    );
    assert_eq!(p.read, total);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "megabytes through two engines: hours under Miri; no unsafe code on this path"
)]
fn after_a_reset_the_writer_knows_how_much_arrived() {
    let mut p = Pair::new();
    // B's reader stops at 300 000 bytes; its receive buffer fills, then B aborts.
    p.read_limit = 300_000;
    let total = 4 * 1024 * 1024;
    p.run(total, |p| {
        let stalled = p.read == p.read_limit && p.a_stats().bytes_written > 2 * 1024 * 1024;
        stalled && p.now % 500 == 0
    });
    let received =
        p.eb.connection_stats(p.hb.expect("accepted"))
            .expect("B's stats")
            .bytes_received;
    p.eb.abort(ms(p.now), p.hb.expect("accepted"))
        .expect("abort");
    p.run(0, |p| p.a_error.is_some());
    assert_eq!(p.a_error, Some(ConnectionError::Reset));
    let s = p.a_stats();
    assert!(
        s.bytes_written > s.bytes_acked,
        "some data never arrived: {s:?}"
    );
    assert_eq!(
        s.bytes_acked, received,
        "A learns exactly what B received in order"
    );
    assert!(
        p.ea.write(p.ha, b"more").is_err(),
        "writes fail after the reset"
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "megabytes through two engines: hours under Miri; no unsafe code on this path"
)]
fn after_the_peer_vanishes_the_writer_knows_how_much_arrived() {
    let mut p = Pair::new();
    let total = 2 * 1024 * 1024;
    p.run(total, |p| p.read >= 500_000);
    p.cut = true;
    p.run(0, |p| p.a_error.is_some());
    assert_eq!(p.a_error, Some(ConnectionError::TimedOut));
    let s = p.a_stats();
    let received =
        p.eb.connection_stats(p.hb.expect("accepted"))
            .expect("B's stats")
            .bytes_received;
    assert!(s.bytes_acked <= received, "never more than arrived");
    assert!(s.bytes_acked >= 500_000, "{s:?}");
    assert!(s.bytes_written > s.bytes_acked);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "megabytes through two engines: hours under Miri; no unsafe code on this path"
)]
fn close_with_unsent_data_delivers_it_before_the_fin() {
    let mut p = Pair::new();
    p.run(0, |p| {
        p.ea.state(p.ha) == Ok(crate::proto::State::Connected) && p.hb.is_some()
    });
    // As much as the send buffer takes, none of it sent yet, then close at once.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let accepted = p.ea.write(p.ha, &data).expect("write");
    assert!(accepted > 100_000, "the send buffer took {accepted} bytes");
    p.ea.close(ms(p.now), p.ha).expect("close");
    p.read_limit = 0; // the loop below reads B's side itself
    let hb = p.hb.expect("accepted");
    let mut got = Vec::new();
    let mut eof = false;
    for _ in 0..30_000 {
        p.step();
        let mut chunk = vec![0u8; 65_536];
        loop {
            match p.eb.read(hb, &mut chunk) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(_) => break,
            }
        }
        if eof {
            break;
        }
    }
    assert!(
        eof,
        "the FIN arrived after {} of {accepted} bytes",
        got.len()
    );
    assert_eq!(got.len(), accepted);
    assert!(got == data[..accepted], "byte-exact");
}
