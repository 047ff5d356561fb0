//! Writes the fuzz targets' seed corpora (`fuzz/corpus/`), committed with the targets:
//! - `decode`: distinct datagrams of a real exchange between two engines under virtual time (a
//!   256 KiB transfer with 3 % of the datagrams lost each way, so the corpus holds SYN, STATE
//!   with and without selective ACKs, DATA, padded path-MTU probes, FIN and RESET);
//! - `endpoint`: scripts for `fuzz/fuzz_targets/endpoint.rs` that complete a transfer (write,
//!   send, deliver, acknowledge, read, close), with and without losses.
//!
//! `cargo run --example fuzz_seeds` (scripts/fuzz.sh runs it when a corpus is missing).

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use utp::proto::{Config, DatagramEvent, Endpoint, Instant};

/// Datagrams of a lossy 256 KiB transfer and its close, both directions.
fn exchange() -> Vec<Vec<u8>> {
    let (a_addr, b_addr): (SocketAddr, SocketAddr) = (
        "10.0.0.1:1000".parse().unwrap(),
        "10.0.0.2:2000".parse().unwrap(),
    );
    let mut a = Endpoint::new(Config::default(), 1).expect("endpoint");
    let mut b = Endpoint::new(Config::default(), 2).expect("endpoint");
    let mut now = Instant::from_micros(1_000_000);
    let ha = a.connect(now, b_addr).expect("connect");
    let mut hb = None;
    let data: Vec<u8> = (0..256 * 1024).map(|i: usize| (i * 31) as u8).collect();
    let (mut written, mut read, mut closed) = (0, 0, false);
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let mut lcg = 12_345u64;
    let mut lose = move || {
        lcg = lcg.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (lcg >> 33) % 100 < 3
    };
    for _ in 0..20_000 {
        if written < data.len() {
            written += a.write(ha, &data[written..]).unwrap_or(0);
        } else if !closed {
            let _ = a.close(now, ha);
            closed = true;
        }
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            let d = buf[..t.len].to_vec();
            seen.push(d.clone());
            if !lose() {
                if let DatagramEvent::Incoming(i) = b.handle_datagram(now, a_addr, &d) {
                    hb = b.accept(now, i).ok();
                }
            }
        }
        if let Some(h) = hb {
            let mut sink = [0u8; 65_536];
            while let Ok(n @ 1..) = b.read(h, &mut sink) {
                read += n;
            }
            if read == data.len() {
                let _ = b.close(now, h);
            }
        }
        b.flush_acks();
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            let d = buf[..t.len].to_vec();
            seen.push(d.clone());
            if !lose() {
                a.handle_datagram(now, b_addr, &d);
            }
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        if closed && a.connection_count() == 0 && b.connection_count() == 0 {
            break;
        }
        now += Duration::from_millis(2);
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    assert_eq!(read, data.len(), "the seed transfer completed");
    // An answer to a stranger: a RESET.
    let stranger: SocketAddr = "10.0.0.3:3000".parse().unwrap();
    b.handle_datagram(now, stranger, &seen[seen.len() / 2]);
    while let Some(t) = b.poll_transmit(now, &mut buf) {
        seen.push(buf[..t.len].to_vec());
    }
    seen
}

/// Scripts for the endpoint target (opcodes as in `fuzz/fuzz_targets/endpoint.rs`).
fn scripts() -> Vec<Vec<u8>> {
    const WRITE: u8 = 0;
    const PUMP: u8 = 1;
    const TO_B: u8 = 2;
    const TO_A: u8 = 3;
    const DROP_TO_B: u8 = 4;
    const TIME: u8 = 11;
    const READ: u8 = 12;
    const CLOSE_A: u8 = 14;
    let round = |lossy: bool| {
        let mut s = vec![WRITE, 64, PUMP];
        if lossy {
            s.push(DROP_TO_B);
        }
        s.extend([TO_B, TO_B, TO_B, TO_B, PUMP, TO_A, TO_A, TIME, 2, READ]);
        s
    };
    let mut plain: Vec<u8> = (0..40).flat_map(|_| round(false)).collect();
    plain.extend([CLOSE_A, PUMP, TO_B, PUMP, TO_A, TIME, 50, PUMP, READ]);
    let mut lossy: Vec<u8> = (0..40).flat_map(|i| round(i % 5 == 0)).collect();
    lossy.extend([TIME, 200, PUMP, TO_B, TO_B, PUMP, TO_A, READ]);
    vec![plain, lossy]
}

fn write_corpus(dir: &Path, items: &[Vec<u8>]) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut distinct = BTreeMap::new();
    for item in items {
        let mut h = DefaultHasher::new();
        item.hash(&mut h);
        distinct.entry(h.finish()).or_insert(item);
    }
    for (hash, item) in &distinct {
        std::fs::write(dir.join(format!("seed-{hash:016x}")), item)?;
    }
    Ok(distinct.len())
}

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let datagrams = exchange();
    // The handshake and first flight (SYN, STATE, probes), the close (FIN, RESET), and a sample
    // of everything between (data, ACKs with and without selective ACKs).
    let mut picked: Vec<Vec<u8>> = datagrams.iter().take(12).cloned().collect();
    picked.extend(datagrams.iter().step_by(61).cloned());
    picked.extend(datagrams.iter().rev().take(12).cloned());
    let n = write_corpus(&root.join("decode"), &picked)?;
    let m = write_corpus(&root.join("endpoint"), &scripts())?;
    println!(
        "fuzz corpora: {n} datagrams in fuzz/corpus/decode, {m} scripts in fuzz/corpus/endpoint"
    );
    Ok(())
}
