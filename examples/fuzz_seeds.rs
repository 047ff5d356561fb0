//! Writes the fuzz targets' seed corpora (`fuzz/corpus/`), committed with the targets:
//! - `decode`: distinct datagrams of a real exchange between two engines under virtual time (a
//!   256 KiB transfer with 3 % of the datagrams lost each way, so the corpus holds SYN, STATE
//!   with and without selective ACKs, DATA, padded path-MTU probes, FIN and RESET);
//! - `endpoint`: scripts for `fuzz/fuzz_targets/endpoint.rs` that complete a transfer (write,
//!   send, deliver, acknowledge, read, close), with and without losses.
//! - `extensions`: the `decode` datagrams, each with three bytes appended that shape the send
//!   queue the target applies their ACK to (packets from 2 before `ack_nr`, some with selective
//!   ACKs beyond it);
//! - `c_api`: call scripts for `fuzz/fuzz_targets/c_api.rs` (a connection with data both ways
//!   and its close; calls made from inside ON_READ, ON_STATE_CHANGE and SENDTO, among them
//!   closing a socket and destroying a context; NULL and destroyed handles; ICMP errors).
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

/// Scripts for the C API target: steps of `[opcode, side, arguments...]` as in
/// `fuzz/fuzz_targets/c_api.rs`. Socket picks count from 1 in the order sockets appear (0 is
/// NULL): 1 is A's first socket, 2 the socket B accepted for it.
#[rustfmt::skip] // one script step per group of numbers, not one number per line
fn c_api_scripts() -> Vec<Vec<u8>> {
    const DELIVER_MANY: u8 = 1;
    const TIME: u8 = 3;
    const CREATE: u8 = 4;
    const CONNECT: u8 = 5;
    const WRITE: u8 = 6;
    const WRITEV: u8 = 7;
    const SHUTDOWN: u8 = 8;
    const CLOSE: u8 = 9;
    const GETTERS: u8 = 11;
    const ICMP: u8 = 13;
    const DESTROY: u8 = 14;
    const ARM: u8 = 15;
    // ARM's argument indexes: SENDTO 0, ON_READ 2, ON_STATE_CHANGE 3. CONNECT's 0x43: port
    // 0x43 % 3 = 1 (B), full address length (0x43 >> 6 != 0).
    let connected = vec![
        CREATE, 0, CONNECT, 0, 1, 0x43, DELIVER_MANY, 0, 31, DELIVER_MANY, 0, 31,
    ];
    let mut transfer = connected.clone();
    transfer.extend([
        WRITE, 0, 1, 200, DELIVER_MANY, 0, 31, WRITEV, 1, 2, 90, DELIVER_MANY, 0, 31,
        TIME, 0, 30, DELIVER_MANY, 0, 31, GETTERS, 0, 1, 100, GETTERS, 1, 2, 100,
        SHUTDOWN, 0, 1, 1, DELIVER_MANY, 0, 31, CLOSE, 0, 1, CLOSE, 1, 2, DELIVER_MANY, 0, 31,
        TIME, 0, 200, DELIVER_MANY, 0, 31, GETTERS, 0, 1, 7, WRITE, 0, 1, 4,
    ]);
    let mut close_in_read = connected.clone();
    close_in_read.extend([
        ARM, 0, 2, WRITE, 0, 1, 100, DELIVER_MANY, 0, 31, CLOSE, 1, 2, DELIVER_MANY, 0, 31,
        TIME, 0, 100, DELIVER_MANY, 0, 31,
    ]);
    let mut destroy_in_state = vec![CREATE, 0, ARM, 0, 3, CONNECT, 0, 1, 0x43];
    destroy_in_state.extend([
        DELIVER_MANY, 0, 31, DESTROY, 0, 0, DELIVER_MANY, 0, 31, DESTROY, 0, 1, CREATE, 0,
        GETTERS, 0, 1, 9,
    ]);
    let mut write_in_sendto = connected.clone();
    write_in_sendto.extend([
        ARM, 0, 0, WRITE, 0, 1, 50, WRITE, 0, 1, 60, DELIVER_MANY, 0, 31, ICMP, 0, 0,
        DELIVER_MANY, 0, 31, GETTERS, 0, 1, 1,
    ]);
    let null_handles = vec![
        WRITE, 0, 0, 10, WRITEV, 0, 0, 10, CLOSE, 0, 0, SHUTDOWN, 0, 0, 2, GETTERS, 0, 0, 5,
        CONNECT, 0, 0, 0x43, CREATE, 1, CLOSE, 1, 1, GETTERS, 1, 1, 5, WRITE, 1, 1, 5,
    ];
    vec![transfer, close_in_read, destroy_in_state, write_in_sendto, null_handles]
}

/// Seeds for the extensions target: each datagram, then a queue starting 2 packets before its
/// `ack_nr + 1`, of 40 packets of 400 bytes (the target reads the input's last three bytes).
fn extensions_seeds(datagrams: &[Vec<u8>]) -> Vec<Vec<u8>> {
    datagrams
        .iter()
        .map(|d| {
            let mut s = d.clone();
            s.extend([2, 40, 100]);
            s
        })
        .collect()
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
    let c = write_corpus(&root.join("c_api"), &c_api_scripts())?;
    let e = write_corpus(&root.join("extensions"), &extensions_seeds(&picked))?;
    println!(
        "fuzz corpora: {n} datagrams in fuzz/corpus/decode, {m} scripts in fuzz/corpus/endpoint, \
         {c} in fuzz/corpus/c_api, {e} in fuzz/corpus/extensions"
    );
    Ok(())
}
