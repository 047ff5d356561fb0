//! What idle connections cost: CPU of the managed runtime holding many established, silent uTP
//! connections over 127.0.0.1, and above all of the one server socket holding them.
//!
//! ```text
//! cargo run --release --example idle_cost -- [--window SECONDS] [--baseline SECONDS]
//!                                            [--connections N] [--client-sockets K]
//!                                            [--client-threads T]
//! ```
//!
//! Defaults: a 60 s window (idle connections send a keepalive every 29 s, as libutp does, so the
//! window sees each connection's keepalives about twice), the same length for the baseline,
//! 10,000 connections to one server socket from 4 client sockets.
//!
//! The server socket runs alone on its own one-thread [`Runtime`]; the client sockets share
//! another (`--client-threads` workers, default 1). Each runtime's worker threads are found by
//! the thread ids that appear when it is created and whose name (`/proc/self/task/ID/comm`) is
//! `utp-worker-N`; the example stops if that does not identify exactly the expected threads.
//! The headline figure is the server worker's CPU: the cost of one socket holding all the
//! connections, which is what the requirement ("10,000 established idle connections on one
//! socket use under 1 % of a core") is about.
//!
//! 1. Baseline: the sockets are bound and nothing else; CPU is taken over the baseline window.
//! 2. N connections are opened and accepted, and one byte is sent over each (so both ends have
//!    seen data and are fully established), then the process settles for a second.
//! 3. CPU is taken again over the idle window, together with the datagrams the connections sent
//!    (their `packets_sent` counters) and the host's UDP `RcvbufErrors`.
//! 4. The connections are checked: the engines must hold N connections on each side at the
//!    start and at the end of the window, and every connection must carry one more byte from
//!    client to server after it. Any failure exits with status 1.
//!
//! CPU is reported as a share of one core for the server worker and the client workers
//! (`/proc/self/task/ID/stat`, user + system, at clock-tick resolution) and for the whole
//! process (`getrusage(RUSAGE_SELF)`, which also counts the main thread and both ends of every
//! connection).

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};
use utp::stream::{Runtime, SocketOptions, UtpSocket, UtpStream};

/// Command-line settings.
struct Settings {
    /// Length of the measured idle window.
    window: Duration,
    /// Length of the baseline window (sockets only).
    baseline: Duration,
    /// Connections to open.
    connections: usize,
    /// Client sockets the connections are spread over.
    client_sockets: usize,
    /// Worker threads of the clients' runtime.
    client_threads: usize,
}

/// How long the acceptor may wait for the next connection while they are being opened: a
/// handshake retries its SYN for well under this before it fails.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a check byte may take to arrive before the connection counts as broken.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Quiet time after setup, so the last ACKs are out before the window starts.
const SETTLE: Duration = Duration::from_secs(1);
/// Name prefix of runtime worker threads.
const WORKER_PREFIX: &str = "utp-worker-";

fn parse_args() -> Result<Settings, String> {
    let mut s = Settings {
        window: Duration::from_secs(60),
        baseline: Duration::ZERO,
        connections: 10_000,
        client_sockets: 4,
        client_threads: 1,
    };
    let mut baseline = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = args.next().ok_or(format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{name}: '{v}' is not a number"))
        };
        match arg.as_str() {
            "--window" => s.window = Duration::from_secs(value("--window")?),
            "--baseline" => baseline = Some(Duration::from_secs(value("--baseline")?)),
            "--connections" => s.connections = value("--connections")? as usize,
            "--client-sockets" => s.client_sockets = value("--client-sockets")? as usize,
            "--client-threads" => s.client_threads = value("--client-threads")? as usize,
            _ => {
                return Err(format!(
                    "unknown argument '{arg}'\nusage: idle_cost [--window SECONDS] \
                     [--baseline SECONDS] [--connections N] [--client-sockets K] \
                     [--client-threads T]"
                ))
            }
        }
    }
    if s.window.is_zero() || s.connections == 0 || s.client_sockets == 0 || s.client_threads == 0 {
        return Err(
            "--window, --connections, --client-sockets and --client-threads must be positive"
                .into(),
        );
    }
    s.baseline = baseline.unwrap_or(s.window);
    Ok(s)
}

/// Wall-clock reads for the measurement itself; nothing here feeds the engine.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// User + system CPU time of the whole process.
fn process_cpu() -> io::Result<Duration> {
    // SAFETY: `rusage` is plain data, so all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable `rusage` for the duration of the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok(tv(ru.ru_utime) + tv(ru.ru_stime))
}

/// The process's thread ids.
fn thread_ids() -> io::Result<BTreeSet<u32>> {
    let mut ids = BTreeSet::new();
    for entry in std::fs::read_dir("/proc/self/task")? {
        if let Some(id) = entry?.file_name().to_str().and_then(|s| s.parse().ok()) {
            ids.insert(id);
        }
    }
    Ok(ids)
}

/// User + system CPU time of one thread of this process, from `/proc/self/task/ID/stat`.
fn thread_cpu(id: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{id}/stat"))?;
    // The name (field 2) is in parentheses and may hold spaces: count fields after its end.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("malformed stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let ticks = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("malformed stat"))
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_micros(total * 1_000_000 / hz))
}

#[path = "common/procfs.rs"]
mod procfs;
use procfs::{rcvbuf_errors, status_kib};

/// The name of one thread of this process, from `/proc/self/task/ID/comm`.
fn thread_name(id: u32) -> io::Result<String> {
    Ok(
        std::fs::read_to_string(format!("/proc/self/task/{id}/comm"))?
            .trim_end()
            .to_owned(),
    )
}

/// Creates a runtime with `threads` workers and returns it with its workers' thread ids: the
/// threads that appeared meanwhile and are named `utp-worker-N`. Anything else is an error, so
/// every figure below is attributed to the right threads or not printed at all.
fn runtime_with_workers(threads: usize) -> io::Result<(Runtime, Vec<u32>)> {
    let before = thread_ids()?;
    let runtime = Runtime::new(threads)?;
    let new: Vec<u32> = thread_ids()?.difference(&before).copied().collect();
    if new.len() != threads {
        return Err(io::Error::other(format!(
            "a {threads}-thread runtime brought {} new thread(s)",
            new.len()
        )));
    }
    // A new thread names itself once it runs, so its name may still be the process's for a
    // moment: wait for it (bounded).
    let deadline = now() + Duration::from_secs(5);
    for &id in &new {
        loop {
            let name = thread_name(id)?;
            if name.starts_with(WORKER_PREFIX) {
                break;
            }
            if now() > deadline {
                return Err(io::Error::other(format!(
                    "thread {id}, new with the runtime, is named '{name}', not {WORKER_PREFIX}N"
                )));
            }
            thread::sleep(Duration::from_millis(1));
        }
    }
    Ok((runtime, new))
}

/// Binds a socket on 127.0.0.1 driven by `runtime`, with default options otherwise, except
/// that every client shares one address and opens its connections at once: the per-address and
/// half-open limits (defences for a port open to the internet) are lifted.
fn bind_loopback(runtime: &Runtime) -> io::Result<UtpSocket> {
    let defaults = SocketOptions::default();
    let options = SocketOptions {
        runtime: Some(runtime.clone()),
        config: utp::proto::Config {
            max_connections_per_ip: defaults.config.max_connections,
            max_half_open: defaults.config.max_connections,
            ..defaults.config.clone()
        },
        ..defaults
    };
    UtpSocket::bind_with(SocketAddr::from(([127, 0, 0, 1], 0)), options)
}

/// Percentage of one core for `cpu` seconds over `wall` seconds.
fn pct(cpu: Duration, wall: Duration) -> f64 {
    100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
}

/// CPU time of several threads together.
fn threads_cpu(ids: &[u32]) -> io::Result<Duration> {
    ids.iter().map(|&id| thread_cpu(id)).sum()
}

/// CPU times at one moment: the server worker, the client workers, the whole process.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    server: Duration,
    clients: Duration,
    process: Duration,
}

/// The threads whose CPU is sampled.
struct Threads {
    server: Vec<u32>,
    clients: Vec<u32>,
}

impl Threads {
    fn sample(&self) -> io::Result<Sample> {
        Ok(Sample {
            at: now(),
            server: threads_cpu(&self.server)?,
            clients: threads_cpu(&self.clients)?,
            process: process_cpu()?,
        })
    }
}

/// Prints the CPU used between two samples.
fn report(what: &str, a: Sample, b: Sample) {
    let wall = b.at - a.at;
    let server = b.server.saturating_sub(a.server);
    let clients = b.clients.saturating_sub(a.clients);
    let process = b.process.saturating_sub(a.process);
    println!("{what}, over {:.1} s:", wall.as_secs_f64());
    for (name, cpu) in [
        ("server socket's worker", server),
        ("client sockets' worker(s)", clients),
        ("whole process", process),
    ] {
        println!(
            "  {name:<26} CPU {:>7.3} s = {:.3}% of one core",
            cpu.as_secs_f64(),
            pct(cpu, wall)
        );
    }
}

/// Datagrams sent so far by the server ends and, together, by the client ends.
fn packets_sent(pairs: &[(UtpStream, UtpStream)]) -> io::Result<(u64, u64)> {
    let (mut server, mut clients) = (0, 0);
    for (c, s) in pairs {
        clients += c.stats()?.packets_sent;
        server += s.stats()?.packets_sent;
    }
    Ok((server, clients))
}

/// Opens `n` connections from the client sockets (round robin) to `server`, accepting them on
/// a helper thread. Returns (client end, server end) pairs, matched by address.
fn establish(
    server: &UtpSocket,
    clients: &[UtpSocket],
    n: usize,
) -> io::Result<Vec<(UtpStream, UtpStream)>> {
    let addr = server.local_addr()?;
    thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        scope.spawn(move || {
            for _ in 0..n {
                let accepted = server.accept();
                let failed = accepted.is_err();
                if tx.send(accepted).is_err() || failed {
                    return;
                }
            }
        });
        let mut outgoing = Vec::with_capacity(n);
        for i in 0..n {
            outgoing.push(clients[i % clients.len()].connect(addr)?);
        }
        // A connection whose handshake fails (its SYNs all lost) never reaches `accept`: stop
        // with an error then rather than wait for it forever. (The acceptor thread stays
        // blocked in `accept`, and the scope would join it: exit instead.)
        let mut accepted = Vec::with_capacity(n);
        while accepted.len() < n {
            match rx.recv_timeout(ACCEPT_TIMEOUT) {
                Ok(a) => accepted.push(a?),
                Err(_) => {
                    println!(
                        "FAIL: {} of {n} connections accepted; none more within {} s",
                        accepted.len(),
                        ACCEPT_TIMEOUT.as_secs()
                    );
                    std::process::exit(1);
                }
            }
        }
        // Match each accepted stream to its client stream: (client address, connection order).
        let mut by_peer: std::collections::HashMap<SocketAddr, Vec<UtpStream>> = Default::default();
        for (s, a) in accepted {
            by_peer.entry(a).or_default().push(s);
        }
        let mut pairs = Vec::with_capacity(n);
        let mut taken: std::collections::HashMap<SocketAddr, usize> = Default::default();
        for c in outgoing {
            let local = c.local_addr()?;
            let k = taken.entry(local).or_default();
            let s = by_peer
                .get(&local)
                .and_then(|v| v.get(*k))
                .cloned()
                .ok_or_else(|| io::Error::other(format!("no accepted stream for {local}")))?;
            *k += 1;
            pairs.push((c, s));
        }
        Ok(pairs)
    })
}

/// Sends one byte from each client end; every server end must receive it. Returns how many
/// connections failed, with the first error.
fn ping_all(pairs: &[(UtpStream, UtpStream)], byte: u8) -> (usize, Option<String>) {
    let mut failed = 0;
    let mut first = None;
    for (i, (c, _)) in pairs.iter().enumerate() {
        if let Err(e) = (&mut &*c).write_all(&[byte]) {
            failed += 1;
            first.get_or_insert(format!("connection {i}: write: {e}"));
        }
    }
    for (i, (_, s)) in pairs.iter().enumerate() {
        let mut got = [0u8];
        let r = s
            .set_read_timeout(Some(PING_TIMEOUT))
            .and_then(|()| (&mut &*s).read_exact(&mut got));
        match r {
            Ok(()) if got[0] == byte => {}
            Ok(()) => {
                failed += 1;
                first.get_or_insert(format!("connection {i}: got {} not {byte}", got[0]));
            }
            Err(e) => {
                failed += 1;
                first.get_or_insert(format!("connection {i}: read: {e}"));
            }
        }
    }
    (failed, first)
}

/// Connections held by the server's engine and, together, by the clients' engines.
fn counts(server: &UtpSocket, clients: &[UtpSocket]) -> (usize, usize) {
    (
        server.connection_count(),
        clients.iter().map(UtpSocket::connection_count).sum(),
    )
}

fn run(s: &Settings) -> io::Result<bool> {
    let (server_rt, server_workers) = runtime_with_workers(1)?;
    let (client_rt, client_workers) = runtime_with_workers(s.client_threads)?;
    let server = bind_loopback(&server_rt)?;
    let clients = (0..s.client_sockets)
        .map(|_| bind_loopback(&client_rt))
        .collect::<io::Result<Vec<_>>>()?;
    let threads = Threads {
        server: server_workers,
        clients: client_workers,
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    println!(
        "idle_cost: {} connections to one server socket ({}) from {} client socket(s); \
         server on its own 1-thread runtime (thread {:?}), clients on a {}-thread runtime \
         (thread(s) {:?}); window {} s, baseline {} s; per-thread CPU resolution 1/{hz} s",
        s.connections,
        server.local_addr()?,
        s.client_sockets,
        threads.server,
        s.client_threads,
        threads.clients,
        s.window.as_secs(),
        s.baseline.as_secs()
    );

    if !s.baseline.is_zero() {
        let a = threads.sample()?;
        thread::sleep(s.baseline);
        let b = threads.sample()?;
        report(
            &format!(
                "baseline, {} socket(s) and no connections",
                1 + s.client_sockets
            ),
            a,
            b,
        );
    }

    let t_setup = now();
    let pairs = establish(&server, &clients, s.connections)?;
    let (failed, why) = ping_all(&pairs, 1);
    let setup = now() - t_setup;
    if failed > 0 {
        println!(
            "FAIL: {failed} connection(s) failed the first ping: {}",
            why.unwrap_or_default()
        );
        return Ok(false);
    }
    println!(
        "established {} connections and pinged each in {:.2} s; resident memory {} MiB",
        pairs.len(),
        setup.as_secs_f64(),
        status_kib("VmRSS:").map_or_else(|| "?".into(), |k| (k / 1024).to_string())
    );
    thread::sleep(SETTLE);

    let start_counts = counts(&server, &clients);
    let sent0 = packets_sent(&pairs)?;
    let drops0 = rcvbuf_errors();
    let a = threads.sample()?;
    thread::sleep(s.window);
    let b = threads.sample()?;
    let drops1 = rcvbuf_errors();
    let sent1 = packets_sent(&pairs)?;
    let end_counts = counts(&server, &clients);

    let server_cpu = b.server.saturating_sub(a.server);
    let wall = b.at - a.at;
    println!(
        "HEADLINE: one server socket holding {} established idle connections: {:.3}% of one \
         core ({:.3} s CPU over {:.1} s)",
        s.connections,
        pct(server_cpu, wall),
        server_cpu.as_secs_f64(),
        wall.as_secs_f64()
    );
    report(&format!("idle, {} connections", s.connections), a, b);
    let keepalive = SocketOptions::default()
        .config
        .keepalive
        .unwrap_or(Duration::MAX);
    println!(
        "keepalives expected per side: {} connections x {:.1} s / {} s = {:.0} on average \
         (they come in rounds, all connections having been last active together); datagrams \
         sent during the window: server {}, clients {}",
        s.connections,
        wall.as_secs_f64(),
        keepalive.as_secs(),
        s.connections as f64 * wall.as_secs_f64() / keepalive.as_secs_f64(),
        sent1.0 - sent0.0,
        sent1.1 - sent0.1
    );
    if let (Some(a), Some(b)) = (drops0, drops1) {
        println!(
            "host UDP RcvbufErrors during the window: +{} (host-wide: other processes count too)",
            b.saturating_sub(a)
        );
    }

    let (failed, why) = ping_all(&pairs, 2);
    let mut ok = true;
    for (when, (srv, cli)) in [("start", start_counts), ("end", end_counts)] {
        let good = srv == s.connections && cli == s.connections;
        ok &= good;
        println!(
            "{} connections held at the {when} of the window: server {srv}, clients {cli}",
            if good { "ok  " } else { "FAIL" }
        );
    }
    if failed == 0 {
        println!(
            "ok   all {} connections carried a byte after the window",
            pairs.len()
        );
    } else {
        ok = false;
        println!(
            "FAIL {failed} connection(s) broken after the window: {}",
            why.unwrap_or_default()
        );
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let settings = match parse_args() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("idle_cost: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&settings) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("idle_cost: {e}");
            ExitCode::FAILURE
        }
    }
}
