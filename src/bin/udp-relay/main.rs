//! `udp-relay`: a UDP impairment relay for interop tests over loopback.
//!
//! ```text
//! udp-relay --listen 127.0.0.1:P --to 127.0.0.1:Q [impairments] [--seed N] [--duration S]
//! ```
//!
//! Datagrams that arrive on the listening socket (from the "client": whichever address sent to it
//! last) are forwarded to the fixed server address `--to` from a second socket, and what the
//! server sends back to that socket is forwarded to the client. Each direction has its own thread,
//! its own seeded choice stream and its own time-ordered queue of datagrams waiting for their
//! departure time.
//!
//! Impairments, for both directions, or for one with the `--c2s-` / `--s2c-` prefix
//! (client to server, server to client; a prefixed option overrides the plain one):
//! * `--delay-ms D`: one-way delay.
//! * `--jitter-ms J`: each datagram's delay is drawn uniformly from `[D - J, D + J]` (at least 0);
//!   datagrams closer together than the jitter may overtake each other.
//! * `--loss P`: probability that a datagram is dropped.
//! * `--dup P`: probability that a forwarded datagram is sent twice (the copy draws its own delay).
//! * `--reorder P`: probability that a datagram is held back `--reorder-ms` (default 10) beyond
//!   its delay, so that the datagrams behind it overtake it.
//!
//! `--spare-first N` exempts the first N datagrams of each direction from loss (they may still
//! be delayed, duplicated or held back): the reference libutp answers a SYN only once and ignores
//! its retransmissions, so a lost SYN-ACK makes any initiator's connect time out, whatever its
//! implementation; sparing the handshake keeps a lossy run about the transfer.
//!
//! Every decision comes from a SplitMix64 stream seeded from `--seed` and the direction, one
//! draw sequence per datagram, so a run with the same seed and the same arrival order makes the
//! same choices. At exit (SIGINT, SIGTERM, `--duration` elapsed, or end of stdin with
//! `--exit-on-eof`) one line of counters per direction goes to stderr:
//! `udp-relay: c2s received R forwarded F dropped L duplicated D reordered O`, where
//! "reordered" counts datagrams sent after a datagram that arrived later than them.
//!
//! This is a binary of the package (not an example) so that integration tests can run the real
//! program through Cargo's `CARGO_BIN_EXE_udp-relay`, as scripts do with `target/release`.

mod wire;

use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;
/// Longest a worker sleeps before checking for shutdown.
const POLL: Duration = Duration::from_millis(20);
/// Default socket buffers: as large as `net.core.rmem_max` allows here without privileges, and
/// the size the interop scripts give the peers (see the README's interop section).
const DEFAULT_SOCKBUF: usize = 4 << 20;
/// Default extra hold-back of a reordered datagram.
const DEFAULT_REORDER_MS: u64 = 10;

const USAGE: &str = "\
usage: udp-relay --listen ADDR --to ADDR [options]
  --listen ADDR       address to receive the client's datagrams on (port 0: ephemeral, printed)
  --to ADDR           the server's address
  --delay-ms D        one-way delay (default 0)
  --jitter-ms J       delay drawn uniformly from [D-J, D+J] (default 0)
  --loss P            drop probability (default 0)
  --dup P             duplication probability (default 0)
  --reorder P         probability of holding a datagram back --reorder-ms more (default 0)
  --reorder-ms R      hold-back of a reordered datagram (default 10)
  --c2s-OPTION V      any of the five above for client->server only (also --s2c-...)
  --spare-first N     never drop the first N datagrams of each direction (default 0)
  --seed N            seed of the choice streams (default 1)
  --sockbuf BYTES     SO_RCVBUF/SO_SNDBUF of both sockets (default 4194304)
  --duration S        exit after S seconds
  --exit-on-eof       exit when stdin reaches end of input
  --log FILE          one line per datagram: time (us), direction, fate, length, uTP header
";

/// A deterministic pseudo-random stream (SplitMix64), enough for test impairments.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// The impairments of one direction.
#[derive(Debug, Clone, PartialEq)]
struct Impairment {
    delay: Duration,
    jitter: Duration,
    loss: f64,
    dup: f64,
    reorder: f64,
    reorder_extra: Duration,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            reorder_extra: Duration::from_millis(DEFAULT_REORDER_MS),
        }
    }
}

/// What happens to one datagram: the delays of the copies sent (none: dropped).
#[derive(Debug, Clone, PartialEq)]
struct Fate {
    sends: Vec<Duration>,
    held_back: bool,
}

impl Impairment {
    /// Draws the fate of the next datagram. Always consumes the same number of draws, so the
    /// choices for datagram n depend only on the seed and n.
    fn decide(&self, rng: &mut Rng) -> Fate {
        let lost = rng.chance(self.loss);
        let dup = rng.chance(self.dup);
        let held_back = rng.chance(self.reorder);
        let first = self.one_delay(rng);
        let second = self.one_delay(rng);
        if lost {
            return Fate {
                sends: Vec::new(),
                held_back: false,
            };
        }
        let extra = if held_back {
            self.reorder_extra
        } else {
            Duration::ZERO
        };
        let mut sends = vec![first + extra];
        if dup {
            sends.push(second + extra);
        }
        Fate { sends, held_back }
    }

    fn one_delay(&self, rng: &mut Rng) -> Duration {
        let u = rng.unit();
        if self.jitter.is_zero() {
            return self.delay;
        }
        let span = 2.0 * self.jitter.as_secs_f64();
        let d = self.delay.as_secs_f64() - self.jitter.as_secs_f64() + u * span;
        Duration::from_secs_f64(d.max(0.0))
    }
}

/// Counters of one direction.
#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
}

/// A datagram waiting for its departure time; the heap pops the earliest (then the first
/// arrived).
#[derive(Debug, PartialEq, Eq)]
struct Queued {
    due: Instant,
    arrival: u64,
    data: Vec<u8>,
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.arrival).cmp(&(self.due, self.arrival))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Where a direction sends to.
#[derive(Debug, Clone)]
enum Target {
    /// The fixed server address.
    Fixed(SocketAddr),
    /// The last address the client sent from (unknown until it sends).
    Client(Arc<Mutex<Option<SocketAddr>>>),
}

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    listen: SocketAddr,
    to: SocketAddr,
    c2s: Impairment,
    s2c: Impairment,
    seed: u64,
    spare_first: u64,
    sockbuf: usize,
    duration: Option<Duration>,
    exit_on_eof: bool,
    log: Option<PathBuf>,
}

fn parse_value<T: FromStr>(name: &str, v: Option<String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{name} needs a value"))?;
    v.parse().map_err(|_| format!("bad value for {name}: {v}"))
}

fn parse_probability(name: &str, v: Option<String>) -> Result<f64, String> {
    let p: f64 = parse_value(name, v)?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{name} must be in [0, 1]"))
    }
}

/// Applies one impairment option (name without prefix) to `imp`; false if it is not one.
fn apply(imp: &mut Impairment, key: &str, name: &str, v: Option<String>) -> Result<bool, String> {
    match key {
        "delay-ms" => imp.delay = Duration::from_millis(parse_value(name, v)?),
        "jitter-ms" => imp.jitter = Duration::from_millis(parse_value(name, v)?),
        "loss" => imp.loss = parse_probability(name, v)?,
        "dup" => imp.dup = parse_probability(name, v)?,
        "reorder" => imp.reorder = parse_probability(name, v)?,
        "reorder-ms" => imp.reorder_extra = Duration::from_millis(parse_value(name, v)?),
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut listen = None;
    let mut to = None;
    let mut both = Vec::new();
    let mut one_way = Vec::new();
    let mut seed = 1;
    let mut spare_first = 0;
    let mut sockbuf = DEFAULT_SOCKBUF;
    let mut duration = None;
    let mut exit_on_eof = false;
    let mut log = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let Some(name) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg}"));
        };
        match name {
            "listen" => listen = Some(parse_value("--listen", it.next())?),
            "to" => to = Some(parse_value("--to", it.next())?),
            "seed" => seed = parse_value("--seed", it.next())?,
            "spare-first" => spare_first = parse_value("--spare-first", it.next())?,
            "sockbuf" => sockbuf = parse_value("--sockbuf", it.next())?,
            "duration" => {
                let s: f64 = parse_value("--duration", it.next())?;
                if !(s.is_finite() && s > 0.0) {
                    return Err("--duration must be positive".into());
                }
                duration = Some(Duration::from_secs_f64(s));
            }
            "exit-on-eof" => exit_on_eof = true,
            "log" => log = Some(parse_value::<PathBuf>("--log", it.next())?),
            _ => {
                let v = it.next();
                if let Some(key) = name.strip_prefix("c2s-") {
                    one_way.push((true, key.to_string(), arg.clone(), v));
                } else if let Some(key) = name.strip_prefix("s2c-") {
                    one_way.push((false, key.to_string(), arg.clone(), v));
                } else {
                    both.push((name.to_string(), arg.clone(), v));
                }
            }
        }
    }
    let mut c2s = Impairment::default();
    let mut s2c = Impairment::default();
    for (key, arg, v) in both {
        let known = apply(&mut c2s, &key, &arg, v.clone())?;
        apply(&mut s2c, &key, &arg, v)?;
        if !known {
            return Err(format!("unknown option {arg}"));
        }
    }
    for (c2s_side, key, arg, v) in one_way {
        let imp = if c2s_side { &mut c2s } else { &mut s2c };
        if !apply(imp, &key, &arg, v)? {
            return Err(format!("unknown option {arg}"));
        }
    }
    Ok(Options {
        listen: listen.ok_or("--listen is required")?,
        to: to.ok_or("--to is required")?,
        c2s,
        s2c,
        seed,
        spare_first,
        sockbuf,
        duration,
        exit_on_eof,
        log,
    })
}

/// Binds a UDP socket with the given buffers (0: the operating system's).
fn bind(addr: SocketAddr, sockbuf: usize) -> io::Result<UdpSocket> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, None)?;
    if sockbuf > 0 {
        s.set_recv_buffer_size(sockbuf)?;
        s.set_send_buffer_size(sockbuf)?;
    }
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// One direction: receives on `from`, impairs, and sends on `out` to `target`.
struct Direction {
    from: UdpSocket,
    out: UdpSocket,
    target: Target,
    /// Set to the source of every datagram received (the client-facing direction only).
    learn: Option<Arc<Mutex<Option<SocketAddr>>>>,
    imp: Impairment,
    /// Datagrams at the start exempt from loss.
    spare_first: u64,
    rng: Rng,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    /// "c2s" or "s2c", for the log.
    name: &'static str,
    /// Packet types and extensions seen (printed at exit).
    tally: Arc<Mutex<wire::Tally>>,
    /// `--log`, shared by both directions, with the relay's start time.
    log: Option<(Arc<Mutex<BufWriter<File>>>, Instant)>,
}

impl Direction {
    /// Counts the datagram and writes its `--log` line.
    fn observe(&self, datagram: &[u8], fate: &Fate) {
        self.tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(datagram);
        if let Some((log, started)) = &self.log {
            let verdict = match (fate.sends.len(), fate.held_back) {
                (0, _) => "drop",
                (1, false) => "fwd",
                (1, true) => "held",
                (_, _) => "dup",
            };
            let what =
                wire::inspect(datagram).map_or_else(|| "not uTP".to_string(), |s| s.describe());
            let mut out = log.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(
                out,
                "{} {} {verdict} {} {what}",
                now().duration_since(*started).as_micros(),
                self.name,
                datagram.len()
            );
        }
    }

    fn run(mut self) -> io::Result<()> {
        let mut queue = BinaryHeap::new();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut arrivals = 0u64;
        let mut latest_sent: Option<u64> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let t = now();
            // Send everything that is due.
            while queue.peek().is_some_and(|q: &Queued| q.due <= t) {
                let Some(q) = queue.pop() else { break };
                let dest = match &self.target {
                    Target::Fixed(a) => Some(*a),
                    Target::Client(c) => *c.lock().unwrap_or_else(|e| e.into_inner()),
                };
                if let Some(dest) = dest {
                    // A send error (e.g. ECONNREFUSED from an earlier datagram's ICMP) loses
                    // this datagram, as a network would.
                    let _ = self.out.send_to(&q.data, dest);
                }
                self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
                match latest_sent {
                    Some(l) if q.arrival < l => {
                        self.counters.reordered.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => latest_sent = Some(q.arrival),
                }
            }
            let wait = queue
                .peek()
                .map(|q| q.due.saturating_duration_since(t))
                .unwrap_or(POLL)
                .clamp(Duration::from_micros(50), POLL);
            self.from.set_read_timeout(Some(wait))?;
            let (n, src) = match self.from.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            if let Some(learn) = &self.learn {
                *learn.lock().unwrap_or_else(|e| e.into_inner()) = Some(src);
            }
            self.counters.received.fetch_add(1, Ordering::Relaxed);
            let mut fate = self.imp.decide(&mut self.rng);
            if fate.sends.is_empty() && arrivals < self.spare_first {
                fate.sends.push(self.imp.delay);
            }
            self.observe(&buf[..n], &fate);
            let arrived = now();
            match fate.sends.len() {
                0 => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                1 => {}
                _ => {
                    self.counters.duplicated.fetch_add(1, Ordering::Relaxed);
                }
            }
            for d in fate.sends {
                queue.push(Queued {
                    due: arrived + d,
                    arrival: arrivals,
                    data: buf[..n].to_vec(),
                });
            }
            arrivals += 1;
        }
        Ok(())
    }
}

// The crate confines clock reads to its runtime (clippy.toml) because the engine takes time as
// an input; this program schedules real datagrams and feeds nothing to the engine.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::Relaxed);
}

fn print_counters(name: &str, c: &Counters) {
    eprintln!(
        "udp-relay: {name} received {} forwarded {} dropped {} duplicated {} reordered {}",
        c.received.load(Ordering::Relaxed),
        c.forwarded.load(Ordering::Relaxed),
        c.dropped.load(Ordering::Relaxed),
        c.duplicated.load(Ordering::Relaxed),
        c.reordered.load(Ordering::Relaxed),
    );
}

fn run(opts: Options) -> io::Result<()> {
    let front = bind(opts.listen, opts.sockbuf)?;
    let back_addr: SocketAddr = if opts.to.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    }
    .parse()
    .map_err(io::Error::other)?;
    let back = bind(back_addr, opts.sockbuf)?;
    eprintln!(
        "udp-relay: listening on {} forwarding to {}",
        front.local_addr()?,
        opts.to
    );

    let log = match &opts.log {
        Some(path) => Some((
            Arc::new(Mutex::new(BufWriter::new(File::create(path)?))),
            now(),
        )),
        None => None,
    };
    let tallies = [
        Arc::new(Mutex::new(wire::Tally::default())),
        Arc::new(Mutex::new(wire::Tally::default())),
    ];
    let client = Arc::new(Mutex::new(None));
    let stop = Arc::new(AtomicBool::new(false));
    let c2s_counters = Arc::new(Counters::default());
    let s2c_counters = Arc::new(Counters::default());
    let c2s = Direction {
        from: front.try_clone()?,
        out: back.try_clone()?,
        target: Target::Fixed(opts.to),
        learn: Some(client.clone()),
        imp: opts.c2s.clone(),
        spare_first: opts.spare_first,
        rng: Rng::new(opts.seed ^ 0xC25),
        counters: c2s_counters.clone(),
        stop: stop.clone(),
        name: "c2s",
        tally: tallies[0].clone(),
        log: log.clone(),
    };
    let s2c = Direction {
        from: back,
        out: front,
        target: Target::Client(client),
        learn: None,
        imp: opts.s2c.clone(),
        spare_first: opts.spare_first,
        rng: Rng::new(opts.seed ^ 0x52C),
        counters: s2c_counters.clone(),
        stop: stop.clone(),
        name: "s2c",
        tally: tallies[1].clone(),
        log: log.clone(),
    };
    let workers = [
        thread::spawn(move || c2s.run()),
        thread::spawn(move || s2c.run()),
    ];

    // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe; the handler is
    // a plain `extern "C" fn(c_int)` as `signal` expects.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let eof = Arc::new(AtomicBool::new(false));
    if opts.exit_on_eof {
        let eof = eof.clone();
        thread::spawn(move || {
            let mut sink = [0u8; 4096];
            let mut stdin = io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            eof.store(true, Ordering::Relaxed);
        });
    }
    let started = now();
    let mut result = Ok(());
    loop {
        thread::sleep(POLL);
        if SIGNALLED.load(Ordering::Relaxed)
            || eof.load(Ordering::Relaxed)
            || opts.duration.is_some_and(|d| started.elapsed() >= d)
        {
            break;
        }
        if workers.iter().any(|w| w.is_finished()) {
            result = Err(io::Error::other("a forwarding thread stopped"));
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        match w.join() {
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err(io::Error::other("a forwarding thread panicked")),
            Ok(Ok(())) => {}
        }
    }
    print_counters("c2s", &c2s_counters);
    print_counters("s2c", &s2c_counters);
    for (name, tally) in ["c2s", "s2c"].iter().zip(&tallies) {
        let summary = tally.lock().unwrap_or_else(|e| e.into_inner()).summary();
        eprintln!("udp-relay: {name} {summary}");
    }
    if let Some((log, _)) = log {
        log.lock().unwrap_or_else(|e| e.into_inner()).flush()?;
    }
    result
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("udp-relay: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udp-relay: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    /// Rates over `n` datagrams: (dropped, duplicated, held back) fractions.
    fn rates(imp: &Impairment, seed: u64, n: usize) -> (f64, f64, f64) {
        let mut rng = Rng::new(seed);
        let (mut lost, mut dup, mut held) = (0, 0, 0);
        for _ in 0..n {
            let f = imp.decide(&mut rng);
            match f.sends.len() {
                0 => lost += 1,
                2 => dup += 1,
                _ => {}
            }
            held += usize::from(f.held_back);
        }
        let n = n as f64;
        (lost as f64 / n, dup as f64 / n, held as f64 / n)
    }

    #[test]
    fn loss_duplication_and_reordering_rates_match_the_options_within_tolerance() {
        let imp = Impairment {
            loss: 0.02,
            dup: 0.01,
            reorder: 0.05,
            ..Impairment::default()
        };
        for seed in [1, 7, 12345] {
            let (lost, dup, held) = rates(&imp, seed, 200_000);
            // 200k draws: standard deviations 0.03 %, 0.02 %, 0.05 %; allow about 5 of them.
            assert!(
                (lost - 0.02).abs() < 0.0015,
                "seed {seed}: loss rate {lost}"
            );
            // duplication and hold-back are only counted on datagrams that were not lost
            assert!(
                (dup - 0.01 * 0.98).abs() < 0.001,
                "seed {seed}: dup rate {dup}"
            );
            assert!(
                (held - 0.05 * 0.98).abs() < 0.0025,
                "seed {seed}: reorder rate {held}"
            );
        }
    }

    #[test]
    fn no_impairment_forwards_every_datagram_once_without_delay() {
        let imp = Impairment::default();
        let mut rng = Rng::new(3);
        for _ in 0..10_000 {
            assert_eq!(
                imp.decide(&mut rng),
                Fate {
                    sends: vec![Duration::ZERO],
                    held_back: false
                }
            );
        }
    }

    #[test]
    fn the_same_seed_makes_the_same_choices_and_another_seed_different_ones() {
        let imp = Impairment {
            loss: 0.1,
            dup: 0.1,
            reorder: 0.1,
            delay: Duration::from_millis(25),
            jitter: Duration::from_millis(5),
            ..Impairment::default()
        };
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..1000).map(|_| imp.decide(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn delays_stay_within_the_jitter_and_the_hold_back_is_added() {
        let imp = Impairment {
            delay: Duration::from_millis(25),
            jitter: Duration::from_millis(5),
            reorder: 0.3,
            reorder_extra: Duration::from_millis(10),
            ..Impairment::default()
        };
        let mut rng = Rng::new(9);
        let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
        for _ in 0..50_000 {
            let f = imp.decide(&mut rng);
            let d = f.sends[0]
                - if f.held_back {
                    imp.reorder_extra
                } else {
                    Duration::ZERO
                };
            assert!(
                d >= Duration::from_millis(20) && d <= Duration::from_millis(30),
                "{d:?}"
            );
            lo = lo.min(d);
            hi = hi.max(d);
        }
        // the whole range is used
        assert!(lo < Duration::from_micros(20_100) && hi > Duration::from_micros(29_900));
    }

    #[test]
    fn a_direction_prefix_overrides_the_option_for_both_directions() {
        let o = parse_args(args(
            "--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms 25 --loss 0.02 --s2c-loss 0 --seed 5",
        ))
        .unwrap();
        assert_eq!(o.c2s.delay, Duration::from_millis(25));
        assert_eq!(o.s2c.delay, Duration::from_millis(25));
        assert_eq!(o.c2s.loss, 0.02);
        assert_eq!(o.s2c.loss, 0.0);
        assert_eq!(o.seed, 5);
    }

    #[test]
    fn bad_options_are_refused() {
        for bad in [
            "--to 127.0.0.1:9",
            "--listen 127.0.0.1:0 --to 127.0.0.1:9 --loss 1.5",
            "--listen 127.0.0.1:0 --to 127.0.0.1:9 --c2s-bogus 1",
            "--listen 127.0.0.1:0 --to 127.0.0.1:9 --frobnicate 1",
            "--listen 127.0.0.1:0 --to 127.0.0.1:9 --duration 0",
        ] {
            assert!(parse_args(args(bad)).is_err(), "{bad}");
        }
    }
}
