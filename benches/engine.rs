//! Benchmark of the engine alone: two [`Endpoint`]s in the deterministic simulator, joined by a
//! pass-through in-memory link (no delay, no loss), one connection moving `RUTP_BENCH_MIB` MiB
//! (default 256) from A to B, verified byte-exact by the simulator's scripted application.
//!
//! It reports, for the steady state only (after a warm-up of the first 16 MiB):
//! * MiB moved, CPU seconds and MiB/s of CPU time (virtual time barely advances on a
//!   pass-through link, so only CPU time says anything about speed);
//! * datagrams delivered (data + ACKs), and heap allocations and bytes allocated per datagram,
//!   counted by a wrapping `#[global_allocator]`. The target is zero allocations per datagram.
//!
//! The same figures are measured in the same run for a baseline: the simulator alone moving the
//! same number of 1402-byte datagrams between two trivial nodes, shaped like the engine's
//! traffic (one 20-byte ACK per as many datagrams as the engine's receiver acknowledged at once,
//! and about as many datagrams in flight). The engine's own cost (its packet handling plus the
//! scripted application's writes, reads and pattern checks) is the difference between the two.
//!
//! Run it with `cargo bench --features sim --bench engine`; a shorter run with
//! `RUTP_BENCH_MIB=64 cargo bench --features sim --bench engine`. It exits non-zero when the
//! transfer fails verification.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use utp::proto::{Config, Endpoint, Instant, Transmit};
use utp::sim::app::{EndpointNode, Plan};
use utp::sim::{Node, Sim};

/// One mebibyte.
const MIB: u64 = 1024 * 1024;

/// Default amount moved from A to B, in MiB.
const DEFAULT_MIB: u64 = 256;

/// Environment variable overriding [`DEFAULT_MIB`].
const SIZE_ENV: &str = "RUTP_BENCH_MIB";

/// Bytes moved before measuring starts (pools, queues and windows grow during the warm-up).
const WARM_UP: u64 = 16 * MIB;

/// Send and receive buffers of both endpoints: large enough that they never limit the window.
const BUFFER: usize = 4 * 1024 * 1024;

/// Datagram size of the baseline: the engine's default IPv4 packet size.
const BASELINE_DATAGRAM: usize = 1402;

/// Datagram size of the baseline's ACKs: a bare uTP header.
const BASELINE_ACK: usize = 20;

/// How many simulator steps run between two checks of the stop condition.
const CHECK_EVERY: u64 = 256;

/// Virtual time a run may take before it is declared stuck.
const VIRTUAL_LIMIT: Duration = Duration::from_secs(3600);

/// Pattern seed of what A sends.
const SEED_A: u64 = 11;
/// Pattern seed of what B sends (nothing: B only receives).
const SEED_B: u64 = 22;

// ---------------------------------------------------------------------------------------------
// Allocation counting
// ---------------------------------------------------------------------------------------------

/// The system allocator, counting every allocation (reallocations included) and its bytes.
struct CountingAlloc;

/// Allocations (and reallocations) since the start of the process.
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Bytes requested by those allocations.
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);

/// Every heap allocation of the benchmark goes through the counter.
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

impl CountingAlloc {
    /// Counts one allocation of `size` bytes.
    fn count(size: usize) {
        ALLOCS.fetch_add(1, Relaxed);
        ALLOC_BYTES.fetch_add(size as u64, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::count(layout.size());
        // SAFETY: forwarded contract of `GlobalAlloc::alloc`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::count(layout.size());
        // SAFETY: forwarded contract of `GlobalAlloc::alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::count(new_size);
        // SAFETY: forwarded contract of `GlobalAlloc::realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract of `GlobalAlloc::dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

/// Where CPU time is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// `/proc/thread-self/schedstat`: this thread's run time in nanoseconds.
    SchedStat,
    /// `/proc/self/stat`: user plus system time of the process, in 1/100 s ticks.
    ProcStat,
    /// No CPU clock available: wall time.
    Wall,
}

impl Clock {
    /// The most precise clock this system offers (the benchmark is single-threaded, so the
    /// thread's CPU time is the process's).
    fn detect() -> Clock {
        if read_schedstat().is_some() {
            Clock::SchedStat
        } else if read_proc_stat().is_some() {
            Clock::ProcStat
        } else {
            Clock::Wall
        }
    }

    /// What the report calls this clock.
    fn describe(self) -> &'static str {
        match self {
            Clock::SchedStat => "thread CPU time, /proc/thread-self/schedstat (ns)",
            Clock::ProcStat => "process CPU time, /proc/self/stat (10 ms ticks)",
            Clock::Wall => "wall time (no CPU clock available; keep the machine idle)",
        }
    }
}

/// Reads a small `/proc` file into a stack buffer (no heap allocation).
fn read_proc(path: &str, buf: &mut [u8; 1024]) -> Option<usize> {
    let mut file = File::open(path).ok()?;
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]).ok()? {
            0 => break,
            n => len += n,
        }
    }
    Some(len)
}

/// This thread's time on the CPU, from the first field of `/proc/thread-self/schedstat`.
///
/// The kernel brings that counter up to date only when the scheduler runs for the thread, so a
/// thread that has been running for a while reads a value up to a scheduler tick old. Yielding
/// first makes the scheduler account the time run so far, which makes the reading exact.
fn read_schedstat() -> Option<Duration> {
    std::thread::yield_now();
    let mut buf = [0u8; 1024];
    let len = read_proc("/proc/thread-self/schedstat", &mut buf)?;
    let text = std::str::from_utf8(&buf[..len]).ok()?;
    let ns: u64 = text.split_ascii_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// User plus system time of the process, from fields 14 and 15 of `/proc/self/stat` (in
/// `USER_HZ` ticks, 100 per second on every Linux configuration Rust supports).
fn read_proc_stat() -> Option<Duration> {
    let mut buf = [0u8; 1024];
    let len = read_proc("/proc/self/stat", &mut buf)?;
    let text = std::str::from_utf8(&buf[..len]).ok()?;
    // The command name (field 2) is parenthesised and may hold spaces: count from its end.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// A point in a run: clocks, allocation counters and datagrams delivered so far.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    /// CPU time used so far (see [`Clock`]).
    cpu: Duration,
    /// Wall clock.
    wall: std::time::Instant,
    /// Allocations so far.
    allocs: u64,
    /// Bytes allocated so far.
    alloc_bytes: u64,
    /// Datagrams delivered so far, both directions.
    datagrams: u64,
    /// Payload bytes delivered so far.
    bytes: u64,
}

/// Origin of the wall clock used when no CPU clock is available.
static WALL_ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

impl Snapshot {
    /// Takes a snapshot at the start (`start`) or end of a phase; `datagrams` and `bytes` are
    /// what the caller's simulation delivered so far.
    ///
    /// The clocks are read outside the allocation counters (before them at the start of a
    /// phase, after them at its end), so reading them never counts as the phase's allocation.
    // The engine must never read the clock (clippy.toml forbids `Instant::now`); a benchmark
    // has to, to time the engine from outside.
    #[allow(clippy::disallowed_methods)]
    fn take(clock: Clock, start: bool, datagrams: u64, bytes: u64) -> Snapshot {
        let origin = *WALL_ORIGIN.get_or_init(std::time::Instant::now);
        let read_clocks = || {
            let cpu = match clock {
                Clock::SchedStat => read_schedstat().unwrap_or_default(),
                Clock::ProcStat => read_proc_stat().unwrap_or_default(),
                Clock::Wall => origin.elapsed(),
            };
            (cpu, std::time::Instant::now())
        };
        let read_counters = || (ALLOCS.load(Relaxed), ALLOC_BYTES.load(Relaxed));
        let ((cpu, wall), (allocs, alloc_bytes)) = if start {
            let clocks = read_clocks();
            (clocks, read_counters())
        } else {
            let counters = read_counters();
            (read_clocks(), counters)
        };
        Snapshot {
            cpu,
            wall,
            allocs,
            alloc_bytes,
            datagrams,
            bytes,
        }
    }
}

/// What a measured phase cost.
#[derive(Debug, Clone, Copy)]
struct Figures {
    /// Payload bytes moved.
    bytes: u64,
    /// CPU time taken.
    cpu: Duration,
    /// Wall time taken.
    wall: Duration,
    /// Datagrams delivered, both directions.
    datagrams: u64,
    /// Heap allocations made.
    allocs: u64,
    /// Bytes those allocations requested.
    alloc_bytes: u64,
    /// Mean number of datagrams in flight in the simulator (its event heap and buffer pool
    /// work harder the more there are).
    in_flight: f64,
}

impl Figures {
    /// The cost of the phase from `start` to `end`.
    fn between(start: &Snapshot, end: &Snapshot, in_flight: f64) -> Figures {
        Figures {
            in_flight,
            bytes: end.bytes - start.bytes,
            cpu: end.cpu.saturating_sub(start.cpu),
            wall: end.wall.duration_since(start.wall),
            datagrams: end.datagrams - start.datagrams,
            allocs: end.allocs - start.allocs,
            alloc_bytes: end.alloc_bytes - start.alloc_bytes,
        }
    }

    /// Payload moved, in MiB.
    fn mib(&self) -> f64 {
        self.bytes as f64 / MIB as f64
    }

    /// Payload moved per second of CPU time.
    fn mib_per_cpu_s(&self) -> f64 {
        self.mib() / self.cpu.as_secs_f64().max(1e-9)
    }

    /// CPU time per delivered datagram, in nanoseconds.
    fn ns_per_datagram(&self) -> f64 {
        self.cpu.as_nanos() as f64 / self.datagrams.max(1) as f64
    }

    /// Heap allocations per delivered datagram.
    fn allocs_per_datagram(&self) -> f64 {
        self.allocs as f64 / self.datagrams.max(1) as f64
    }

    /// Bytes allocated per delivered datagram.
    fn bytes_per_datagram(&self) -> f64 {
        self.alloc_bytes as f64 / self.datagrams.max(1) as f64
    }
}

/// Running mean of the datagrams in flight, sampled whenever a run checks its stop condition.
#[derive(Debug, Default)]
struct InFlight {
    /// Sum of the samples.
    sum: u64,
    /// Number of samples.
    samples: u64,
}

impl InFlight {
    /// Adds the current number of datagrams in flight.
    fn sample<N: Node>(&mut self, sim: &Sim<N>) {
        self.sum += sim.in_flight() as u64;
        self.samples += 1;
    }

    /// The mean of the samples (0 without any).
    fn mean(&self) -> f64 {
        self.sum as f64 / self.samples.max(1) as f64
    }
}

/// Steps `sim` until `done` holds (checked every [`CHECK_EVERY`] steps). Fails when nothing is
/// left to do or virtual time runs past [`VIRTUAL_LIMIT`] first.
fn run_until<N: Node>(
    sim: &mut Sim<N>,
    mut done: impl FnMut(&Sim<N>) -> bool,
) -> Result<(), String> {
    let limit = Instant::ZERO + VIRTUAL_LIMIT;
    let mut steps = 0u64;
    loop {
        if steps % CHECK_EVERY == 0 && done(sim) {
            return Ok(());
        }
        if !sim.step() {
            return if done(sim) {
                Ok(())
            } else {
                Err(format!("simulation went idle after {steps} steps"))
            };
        }
        steps += 1;
        if sim.now() > limit {
            return Err(format!("no end after {VIRTUAL_LIMIT:?} of virtual time"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The engine run
// ---------------------------------------------------------------------------------------------

/// Address of A, the sender.
fn addr_a() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 6881))
}

/// Address of B, the receiver.
fn addr_b() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 2], 6881))
}

/// Datagrams delivered so far in both directions: (A → B, B → A).
fn delivered<N: Node>(sim: &Sim<N>) -> (u64, u64) {
    (
        sim.link_stats(addr_a(), addr_b()).delivered,
        sim.link_stats(addr_b(), addr_a()).delivered,
    )
}

/// The outcome of the engine run.
struct EngineRun {
    /// The steady state's figures.
    steady: Figures,
    /// Data-carrying (A → B) datagrams in the steady state.
    data_datagrams: u64,
    /// ACKs (B → A) in the steady state.
    ack_datagrams: u64,
    /// Virtual time the whole run took.
    virtual_time: Duration,
}

/// Bytes B has read so far.
fn received_by_b(sim: &Sim<EndpointNode>, b: usize) -> u64 {
    sim.node(b).conns.values().next().map_or(0, |c| c.received)
}

/// A node running the engine with the benchmark's configuration.
fn engine_node(seed: u64) -> EndpointNode {
    let config = Config {
        send_buffer: BUFFER,
        recv_buffer: BUFFER,
        ..Config::default()
    };
    let endpoint = Endpoint::new(config, seed).expect("valid benchmark configuration");
    let mut node = EndpointNode::new(endpoint);
    node.keep_log = false;
    node
}

/// Moves `total` bytes from A to B through the engine, measuring after `warm_up` bytes until
/// B has read everything, then lets both sides close and verifies the transfer.
fn run_engine(clock: Clock, total: u64, warm_up: u64) -> Result<EngineRun, String> {
    let mut sim = Sim::new(0xBE7C);
    let a = sim.add_node(addr_a(), engine_node(0xA));
    let b = sim.add_node(addr_b(), engine_node(0xB));
    sim.node_mut(b).accept_plan = Some(Plan::transfer(0, SEED_B, total, SEED_A));
    sim.with_node(a, |n, now| {
        n.connect(now, addr_b(), Plan::transfer(total, SEED_A, 0, SEED_B))
    });

    run_until(&mut sim, |s| received_by_b(s, b) >= warm_up)?;
    let ((d0, a0), r0) = (delivered(&sim), received_by_b(&sim, b));
    let start = Snapshot::take(clock, true, d0 + a0, r0);
    let mut in_flight = InFlight::default();
    run_until(&mut sim, |s| {
        in_flight.sample(s);
        received_by_b(s, b) >= total
    })?;
    let ((d1, a1), r1) = (delivered(&sim), received_by_b(&sim, b));
    let end = Snapshot::take(clock, false, d1 + a1, r1);

    run_until(&mut sim, |s| {
        [a, b]
            .iter()
            .all(|&i| s.node(i).conns.values().all(|c| c.closed_at.is_some()))
    })?;
    verify(&sim, a, b, total)?;
    Ok(EngineRun {
        steady: Figures::between(&start, &end, in_flight.mean()),
        data_datagrams: d1 - d0,
        ack_datagrams: a1 - a0,
        virtual_time: sim.now().saturating_duration_since(Instant::ZERO),
    })
}

/// Checks that B read exactly the `total` bytes A sent, intact and followed by EOF, and that
/// neither side saw an error.
fn verify(sim: &Sim<EndpointNode>, a: usize, b: usize, total: u64) -> Result<(), String> {
    let (_, ca) = sim.node(a).single();
    let (_, cb) = sim.node(b).single();
    if !ca.errors.is_empty() || !cb.errors.is_empty() {
        return Err(format!("errors: A {:?}, B {:?}", ca.errors, cb.errors));
    }
    if let Some(at) = cb.mismatch_at {
        return Err(format!("B received a wrong byte at offset {at}"));
    }
    if cb.received != total || !cb.received_all() {
        return Err(format!(
            "B received {} of {total} bytes (EOF seen: {})",
            cb.received,
            cb.eof_at.is_some()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The baseline: the simulator alone
// ---------------------------------------------------------------------------------------------

/// A trivial sender: `BASELINE_DATAGRAM`-byte datagrams, at most `window` of them
/// unacknowledged; an ACK carries how many datagrams its sender has received.
struct ToySender {
    /// The receiver.
    peer: SocketAddr,
    /// Datagrams still to send.
    remaining: u64,
    /// Datagrams kept unacknowledged at most.
    window: u64,
    /// Datagrams sent.
    sent: u64,
    /// Datagrams the receiver reported.
    acked: u64,
}

/// A trivial receiver: counts datagrams and acknowledges every `ack_every`-th one.
struct ToyReceiver {
    /// The sender.
    peer: SocketAddr,
    /// Datagrams received.
    received: u64,
    /// Acknowledge every this many datagrams.
    ack_every: u64,
    /// An ACK is waiting to be sent.
    ack_due: bool,
}

/// Either side of the baseline (the simulator holds one node type).
enum Toy {
    /// Node A.
    Sender(ToySender),
    /// Node B.
    Receiver(ToyReceiver),
}

impl Node for Toy {
    fn handle_datagram(&mut self, _now: Instant, _from: SocketAddr, data: &[u8]) {
        match self {
            Toy::Sender(s) => {
                let mut count = [0u8; 8];
                count.copy_from_slice(&data[..8]);
                s.acked = s.acked.max(u64::from_le_bytes(count));
            }
            Toy::Receiver(r) => {
                r.received += 1;
                if r.received % r.ack_every == 0 {
                    r.ack_due = true;
                }
            }
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let (destination, len, stamp) = match self {
            Toy::Sender(s) => {
                if s.remaining == 0 || s.sent - s.acked >= s.window {
                    return None;
                }
                s.remaining -= 1;
                s.sent += 1;
                (s.peer, BASELINE_DATAGRAM, s.sent)
            }
            Toy::Receiver(r) => {
                if !r.ack_due {
                    return None;
                }
                r.ack_due = false;
                (r.peer, BASELINE_ACK, r.received)
            }
        };
        buf[..8].copy_from_slice(&stamp.to_le_bytes());
        Some(Transmit {
            destination,
            len,
            dont_fragment: false,
            connection: None,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

/// The steady-state traffic of the engine run, which the baseline reproduces.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Full-size datagrams from A to B.
    data: u64,
    /// B sends one ACK per this many datagrams.
    ack_every: u64,
    /// Datagrams A keeps unacknowledged.
    window: u64,
}

impl Shape {
    /// The shape of the engine's steady state, ratios rounded.
    fn of(engine: &EngineRun) -> Shape {
        let acks = engine.ack_datagrams.max(1);
        Shape {
            data: engine.data_datagrams,
            ack_every: ((engine.data_datagrams + acks / 2) / acks).max(1),
            window: (engine.steady.in_flight.round() as u64).max(1),
        }
    }
}

/// Moves `warm_up` and then `shape.data` full-size datagrams from A to B, shaped like the
/// engine's traffic, and measures the last `shape.data` of them.
fn run_baseline(clock: Clock, warm_up: u64, shape: Shape) -> Result<Figures, String> {
    let mut sim = Sim::new(0xBA5E);
    let sender = ToySender {
        peer: addr_b(),
        remaining: warm_up + shape.data,
        window: shape.window,
        sent: 0,
        acked: 0,
    };
    let receiver = ToyReceiver {
        peer: addr_a(),
        received: 0,
        ack_every: shape.ack_every,
        ack_due: false,
    };
    sim.add_node(addr_a(), Toy::Sender(sender));
    sim.add_node(addr_b(), Toy::Receiver(receiver));
    let payload = (BASELINE_DATAGRAM - BASELINE_ACK) as u64;

    run_until(&mut sim, |s| delivered(s).0 >= warm_up)?;
    let (d0, a0) = delivered(&sim);
    let start = Snapshot::take(clock, true, d0 + a0, d0 * payload);
    let mut in_flight = InFlight::default();
    run_until(&mut sim, |s| {
        in_flight.sample(s);
        delivered(s).0 >= warm_up + shape.data
    })?;
    let (d1, a1) = delivered(&sim);
    let end = Snapshot::take(clock, false, d1 + a1, d1 * payload);
    Ok(Figures::between(&start, &end, in_flight.mean()))
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/// The transfer size: `RUTP_BENCH_MIB` MiB, default [`DEFAULT_MIB`].
fn total_bytes() -> Result<u64, String> {
    match std::env::var(SIZE_ENV) {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(mib) if mib > 0 => Ok(mib * MIB),
            _ => Err(format!(
                "{SIZE_ENV}={v:?}: expected a positive number of MiB"
            )),
        },
        Err(_) => Ok(DEFAULT_MIB * MIB),
    }
}

/// Prints one row of the comparison table.
fn row(name: &str, engine: f64, baseline: f64, decimals: usize) {
    println!("  {name:<30} {engine:>14.decimals$} {baseline:>14.decimals$}");
}

/// Prints the engine's and the baseline's figures side by side, then the ratios.
fn report(engine: &EngineRun, baseline: &Figures) {
    let e = &engine.steady;
    println!(
        "  {:<30} {:>14} {:>14}",
        "steady state", "engine", "sim only"
    );
    row("MiB moved", e.mib(), baseline.mib(), 2);
    row(
        "CPU seconds",
        e.cpu.as_secs_f64(),
        baseline.cpu.as_secs_f64(),
        3,
    );
    row(
        "wall seconds",
        e.wall.as_secs_f64(),
        baseline.wall.as_secs_f64(),
        3,
    );
    row(
        "MiB/s of CPU",
        e.mib_per_cpu_s(),
        baseline.mib_per_cpu_s(),
        1,
    );
    row(
        "datagrams (data + ACKs)",
        e.datagrams as f64,
        baseline.datagrams as f64,
        0,
    );
    row(
        "CPU ns per datagram",
        e.ns_per_datagram(),
        baseline.ns_per_datagram(),
        1,
    );
    row(
        "mean datagrams in flight",
        e.in_flight,
        baseline.in_flight,
        0,
    );
    row("allocations", e.allocs as f64, baseline.allocs as f64, 0);
    row(
        "allocations per datagram",
        e.allocs_per_datagram(),
        baseline.allocs_per_datagram(),
        4,
    );
    row(
        "bytes allocated per datagram",
        e.bytes_per_datagram(),
        baseline.bytes_per_datagram(),
        1,
    );
    println!(
        "  engine datagrams: {} data + {} ACKs; virtual time of the whole run {:.3} s",
        engine.data_datagrams,
        engine.ack_datagrams,
        engine.virtual_time.as_secs_f64()
    );
    println!(
        "ratio: CPU per datagram, engine / sim only      {:.2}x",
        e.ns_per_datagram() / baseline.ns_per_datagram().max(1e-9)
    );
    println!(
        "ratio: engine's own CPU per datagram            {:.1} ns (engine {:.1} - sim {:.1})",
        e.ns_per_datagram() - baseline.ns_per_datagram(),
        e.ns_per_datagram(),
        baseline.ns_per_datagram()
    );
    println!(
        "ratio: engine's own allocations per datagram    {:.4} ({:.1} bytes)",
        e.allocs_per_datagram() - baseline.allocs_per_datagram(),
        e.bytes_per_datagram() - baseline.bytes_per_datagram()
    );
}

/// Runs the engine, then the baseline shaped like it, and prints the report.
fn run() -> Result<(), String> {
    let total = total_bytes()?;
    let warm_up = WARM_UP.min(total / 4);
    let clock = Clock::detect();
    println!(
        "rutp engine benchmark: {} MiB from A to B over a pass-through link, steady state after {} MiB",
        total / MIB,
        warm_up as f64 / MIB as f64
    );
    println!("clock: {}", clock.describe());
    if warm_up < WARM_UP {
        println!("note: warm-up shorter than 16 MiB, pools and queues may still be growing");
    }

    let engine = run_engine(clock, total, warm_up)?;
    let warm_up_datagrams = warm_up.div_ceil((BASELINE_DATAGRAM - BASELINE_ACK) as u64);
    let baseline = run_baseline(clock, warm_up_datagrams, Shape::of(&engine))?;
    report(&engine, &baseline);
    println!("verified: B received all {total} bytes intact");
    Ok(())
}

/// Exits with failure when a run went wrong or the transfer failed verification.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("engine benchmark FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
