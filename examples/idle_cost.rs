//! What idle connections cost: CPU of the managed runtime holding many established, silent uTP
//! connections over 127.0.0.1.
//!
//! ```text
//! cargo run --release --example idle_cost -- [--window SECONDS] [--baseline SECONDS]
//!                                            [--connections N] [--client-sockets K]
//! ```
//!
//! Defaults: a 60 s window (idle connections send a keepalive every 29 s, as libutp does, so the
//! window sees each connection's keepalives about twice), the same length for the baseline,
//! 10,000 connections to one server socket from 4 client sockets. Each socket's
//! `Config::max_connections` is raised to what it must hold (the default, 3000 as libutp, would
//! refuse the rest).
//!
//! 1. Baseline: the server and client sockets are bound (each with its driver thread) and
//!    nothing else; the process's CPU time (`getrusage(RUSAGE_SELF)`, user + system) is taken
//!    over the baseline window.
//! 2. N connections are opened and accepted, and one byte is sent over each (so both ends have
//!    seen data and are fully established), then the process settles for a second.
//! 3. The CPU time is taken again over the idle window. Both numbers are printed as a share of
//!    one core; the idle one is also split by thread (server driver, client drivers, the rest)
//!    from `/proc/self/task/*/stat`, at clock-tick resolution.
//!    The host's UDP `RcvbufErrors` increase over the window is printed too.
//! 4. The connections are checked: the engines must hold N connections on each side at the
//!    start and at the end of the window, and every connection must carry one more byte from
//!    client to server after it. Any failure exits with status 1.
//!
//! The figures cover both ends of every connection, since both live in this process.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};
use utp::stream::{SocketOptions, UtpSocket, UtpStream};

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
}

/// How long a check byte may take to arrive before the connection counts as broken.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Quiet time after setup, so the last ACKs are out before the window starts.
const SETTLE: Duration = Duration::from_secs(1);

fn parse_args() -> Result<Settings, String> {
    let mut s = Settings {
        window: Duration::from_secs(60),
        baseline: Duration::ZERO,
        connections: 10_000,
        client_sockets: 4,
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
            _ => {
                return Err(format!(
                    "unknown argument '{arg}'\nusage: idle_cost [--window SECONDS] \
                     [--baseline SECONDS] [--connections N] [--client-sockets K]"
                ))
            }
        }
    }
    if s.window.is_zero() || s.connections == 0 || s.client_sockets == 0 {
        return Err("--window, --connections and --client-sockets must be positive".into());
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

/// Resident memory of the process in KiB, from `/proc/self/status`.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The host's UDP `RcvbufErrors` (datagrams dropped on full receive buffers), from
/// `/proc/net/snmp`.
fn rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let i = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// Binds a socket on 127.0.0.1 that may hold `connections` connections, and returns it with
/// its driver thread's id.
fn bind_loopback(connections: usize) -> io::Result<(UtpSocket, Option<u32>)> {
    let mut options = SocketOptions::default();
    // The engine refuses SYNs beyond `max_connections` (3000 by default, as libutp).
    options.config.max_connections = options.config.max_connections.max(connections);
    let before = thread_ids()?;
    let socket = UtpSocket::bind_with(SocketAddr::from(([127, 0, 0, 1], 0)), options)?;
    let after = thread_ids()?;
    let mut new = after.difference(&before);
    let driver = match (new.next(), new.next()) {
        (Some(&id), None) => Some(id),
        _ => None, // another thread started meanwhile: no per-thread split for this socket
    };
    Ok((socket, driver))
}

/// Percentage of one core for `cpu` seconds over `wall` seconds.
fn pct(cpu: Duration, wall: Duration) -> f64 {
    100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
}

/// CPU time of several threads together (missing ones count as zero).
fn threads_cpu(ids: &[u32]) -> Duration {
    ids.iter().filter_map(|&id| thread_cpu(id).ok()).sum()
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
        let acceptor = scope.spawn(|| -> io::Result<Vec<(UtpStream, SocketAddr)>> {
            (0..n).map(|_| server.accept()).collect()
        });
        let mut outgoing = Vec::with_capacity(n);
        for i in 0..n {
            outgoing.push(clients[i % clients.len()].connect(addr)?);
        }
        let accepted = acceptor
            .join()
            .map_err(|_| io::Error::other("acceptor panicked"))??;
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
    let (server, server_driver) = bind_loopback(s.connections)?;
    let mut clients = Vec::new();
    let mut client_drivers = Vec::new();
    for _ in 0..s.client_sockets {
        let (c, id) = bind_loopback(s.connections.div_ceil(s.client_sockets))?;
        clients.push(c);
        client_drivers.extend(id);
    }
    println!(
        "idle_cost: {} connections to one server socket ({}) from {} client socket(s); \
         window {} s, baseline {} s",
        s.connections,
        server.local_addr()?,
        s.client_sockets,
        s.window.as_secs(),
        s.baseline.as_secs()
    );

    if !s.baseline.is_zero() {
        let (c0, t0) = (process_cpu()?, now());
        thread::sleep(s.baseline);
        let (c1, t1) = (process_cpu()?, now());
        println!(
            "baseline, {} socket(s) and no connections: CPU {:.3} s over {:.1} s = {:.3}% of \
             one core",
            1 + s.client_sockets,
            (c1 - c0).as_secs_f64(),
            (t1 - t0).as_secs_f64(),
            pct(c1 - c0, t1 - t0)
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
        rss_kib().map_or_else(|| "?".into(), |k| (k / 1024).to_string())
    );
    thread::sleep(SETTLE);

    let start_counts = counts(&server, &clients);
    let drops0 = rcvbuf_errors();
    let (c0, t0) = (process_cpu()?, now());
    let server0 = server_driver.map(|id| threads_cpu(&[id]));
    let clients0 = threads_cpu(&client_drivers);
    thread::sleep(s.window);
    let (c1, t1) = (process_cpu()?, now());
    let server1 = server_driver.map(|id| threads_cpu(&[id]));
    let clients1 = threads_cpu(&client_drivers);
    let end_counts = counts(&server, &clients);
    let drops1 = rcvbuf_errors();

    let (cpu, wall) = (c1 - c0, t1 - t0);
    print!(
        "idle, {} connections: CPU {:.3} s over {:.1} s = {:.3}% of one core",
        s.connections,
        cpu.as_secs_f64(),
        wall.as_secs_f64(),
        pct(cpu, wall)
    );
    if let (Some(a), Some(b)) = (server0, server1) {
        let server_cpu = b.saturating_sub(a);
        let client_cpu = clients1.saturating_sub(clients0);
        print!(
            " (server driver {:.3}%, client drivers {:.3}%, other threads {:.3}%)",
            pct(server_cpu, wall),
            pct(client_cpu, wall),
            pct(cpu.saturating_sub(server_cpu + client_cpu), wall)
        );
    }
    println!();
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
