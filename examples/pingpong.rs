//! Round-trip latency of small messages over one uTP connection on the managed runtime
//! ([`utp::stream`]), for `scripts/bench-perf.sh` (issue 9).
//!
//! ```text
//! cargo run --release --example pingpong -- server [--nagle]
//! cargo run --release --example pingpong -- client PORT [--count N] [--warmup W] [--size B] [--nagle]
//! ```
//!
//! The server binds 127.0.0.1 on any free port, prints `listening on 127.0.0.1:PORT` on stderr,
//! accepts one connection and echoes whatever arrives until the peer's FIN. The client connects
//! to 127.0.0.1:PORT, then writes B bytes (default 64) and waits until the same B bytes came
//! back, W times (default 200) as a warm-up and then N times (default 2000) measured, each round
//! trip timed on the monotonic clock. It checks every echoed byte, then prints one line:
//!
//! ```text
//! rtt_us count N min A median B p99 C max D
//! ```
//!
//! Nagle's algorithm is switched off on both ends (`Config::nagle`) unless `--nagle` is given;
//! in a strict ping-pong nothing is in flight when a message is written, so it would not hold
//! a message back anyway. Only 127.0.0.1 is used.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Instant;
use utp::stream::{SocketOptions, UtpSocket};

/// What the command line asks for.
struct Args {
    server: bool,
    port: u16,
    count: usize,
    warmup: usize,
    size: usize,
    nagle: bool,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it
        .next()
        .ok_or("usage: pingpong server | pingpong client PORT [options]")?;
    let server = match mode.as_str() {
        "server" => true,
        "client" => false,
        _ => return Err(format!("unknown mode '{mode}' (server or client)")),
    };
    let mut a = Args {
        server,
        port: 0,
        count: 2000,
        warmup: 200,
        size: 64,
        nagle: false,
    };
    if !server {
        let p = it.next().ok_or("client needs the server's PORT")?;
        a.port = p.parse().map_err(|_| format!("bad port '{p}'"))?;
    }
    while let Some(opt) = it.next() {
        if opt == "--nagle" {
            a.nagle = true;
            continue;
        }
        let v = it.next().ok_or(format!("{opt} needs a value"))?;
        let n: usize = v
            .parse()
            .map_err(|_| format!("bad number '{v}' for {opt}"))?;
        match opt.as_str() {
            "--count" if n > 0 => a.count = n,
            "--warmup" => a.warmup = n,
            "--size" if (1..=1 << 20).contains(&n) => a.size = n,
            _ => return Err(format!("bad option '{opt} {v}'")),
        }
    }
    Ok(a)
}

fn socket(nagle: bool) -> std::io::Result<UtpSocket> {
    let mut options = SocketOptions::default();
    options.config.nagle = nagle;
    UtpSocket::bind_with(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), options)
}

fn serve(a: &Args) -> std::io::Result<()> {
    let sock = socket(a.nagle)?;
    eprintln!("listening on {}", sock.local_addr()?);
    let (mut stream, _) = sock.accept()?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n])?;
    }
    stream.finish()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    // nearest rank
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The monotonic clock, read only here to time round trips (the application's clock, not the
/// engine's: clippy.toml keeps Instant::now out of everything else).
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

fn client(a: &Args) -> std::io::Result<()> {
    let sock = socket(a.nagle)?;
    let mut stream = sock.connect(SocketAddr::from((Ipv4Addr::LOCALHOST, a.port)))?;
    let mut msg = vec![0u8; a.size];
    let mut back = vec![0u8; a.size];
    let mut rtts = Vec::with_capacity(a.count);
    for i in 0..a.warmup + a.count {
        for (k, b) in msg.iter_mut().enumerate() {
            *b = (i.wrapping_mul(31) + k) as u8;
        }
        let t = now();
        stream.write_all(&msg)?;
        stream.read_exact(&mut back)?;
        let rtt = t.elapsed();
        if back != msg {
            return Err(std::io::Error::other(format!(
                "round trip {i}: wrong bytes"
            )));
        }
        if i >= a.warmup {
            rtts.push(rtt.as_secs_f64() * 1e6);
        }
    }
    stream.finish()?;
    rtts.sort_by(f64::total_cmp);
    println!(
        "rtt_us count {} min {:.1} median {:.1} p99 {:.1} max {:.1}",
        rtts.len(),
        rtts[0],
        percentile(&rtts, 50.0),
        percentile(&rtts, 99.0),
        rtts[rtts.len() - 1]
    );
    Ok(())
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pingpong: {e}");
            return ExitCode::from(2);
        }
    };
    match if a.server { serve(&a) } else { client(&a) } {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pingpong: {e}");
            ExitCode::FAILURE
        }
    }
}
