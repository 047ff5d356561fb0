//! `utpcat`: netcat over uTP, on the managed runtime ([`utp::stream`]).
//!
//! Its command line follows libutp's example program `ucat`:
//!
//! ```text
//! utpcat [options] <destination-IP> <destination-port>   connect
//! utpcat [options] -l -p <listening-port>                listen for one connection
//! ```
//!
//! Standard input is sent over a single uTP connection and whatever arrives is written to
//! standard output. A helper thread copies stdin to the stream and, at end of input, shuts the
//! stream's write side down (our FIN) and waits until the peer acknowledged all of it
//! ([`UtpStream::finish`]); the main thread copies the stream to stdout until the
//! peer's FIN. Once both directions are finished the connection is closed and the program exits
//! (after 2 s when the peer's FIN came last, to acknowledge it again should our acknowledgement
//! be lost, as TCP's TIME-WAIT and `utp_netcat` do).
//!
//! Differences from `ucat`:
//! * IPv6 works (`-s ::`, or an IPv6 destination).
//! * Host names are never resolved: addresses must be IP literals (`-n` is accepted and changes
//!   nothing).
//! * A listener whose stdin is already at end of input still waits for its peer; it then sends
//!   nothing and shuts its write side at once.
//! * `--stats` prints transfer figures and the connection's counters to stderr at the end.
//! * `--stats-interval MS` also prints one line every `MS` milliseconds during the transfer:
//!   the rates each way over that interval and the congestion controller's state (window,
//!   round-trip time, and the queuing delay LEDBAT measures for our direction).
//! * `--sockbuf BYTES` sets the UDP socket's `SO_RCVBUF` and `SO_SNDBUF` (default: the
//!   runtime's, 4 MiB), so benchmarks can give every peer the same buffers; `--sockbuf 0`
//!   leaves the operating system's defaults, as `ucat` does.
//! * When stderr is a terminal, a progress line (bytes and rates each way) is kept up to date
//!   on it once a transfer has run for a second, and finished with a newline at the end.
//! * Exit status: 0 after a clean transfer, 1 on an error, 2 on a usage error.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use utp::proto::ConnectionStats;
use utp::runtime::udp::UdpOptions;
use utp::stream::{SocketOptions, UtpSocket, UtpStream};

/// Default chunk size for reading stdin (`-B`), as in `ucat`.
const DEFAULT_STDIN_BUFFER: usize = 4096;
/// Largest accepted `-B`.
const MAX_STDIN_BUFFER: usize = 64 << 20;
/// Largest accepted `--sockbuf` (`setsockopt` takes an `int`).
const MAX_SOCKBUF: usize = i32::MAX as usize;
/// Largest accepted `--stats-interval`, in milliseconds (one hour).
const MAX_STATS_INTERVAL_MS: u64 = 3_600_000;
/// Size of the buffer the main thread receives into.
const RECV_BUFFER: usize = 64 << 10;
/// How long we stay after the peer's FIN came last (see `run`): one retransmission of a
/// libutp FIN (its timeout is at least 1 s) with room to spare; as `utp_netcat`'s
/// `CLOSE_LINGER_MS`.
const LINGER: Duration = Duration::from_secs(2);

/// The usage text printed by `-h` and after usage errors.
const USAGE: &str = "\
Usage:
    utpcat [options] <destination-IP> <destination-port>
    utpcat [options] -l -p <listening-port>
Options:
    -h          Help
    -d          Debug mode; repeat for more (-dd: library log, -ddd: trace)
    -l          Listen mode (accepts one connection)
    -p <port>   Local port
    -s <IP>     Source IP (default 0.0.0.0, or :: for an IPv6 destination)
    -B <size>   Buffer size for stdin reads (default 4096)
    -n          Don't resolve host names (utpcat never does: give IP literals)
    --stats     Print transfer statistics to stderr at the end
    --stats-interval <ms>
                Also print rates, cwnd, rtt and queuing delay every <ms> milliseconds
    --sockbuf <bytes>
                SO_RCVBUF and SO_SNDBUF of the UDP socket (default 4194304;
                0 leaves the operating system's default)
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    /// Verbosity of the diagnostics on stderr (`-d` count).
    debug: u32,
    /// Listen instead of connecting (`-l`).
    listen: bool,
    /// Local port (`-p`).
    local_port: Option<u16>,
    /// Local address (`-s`).
    source: Option<IpAddr>,
    /// Chunk size of stdin reads (`-B`).
    stdin_buffer: usize,
    /// Print statistics at the end (`--stats`).
    stats: bool,
    /// Period of the interval lines (`--stats-interval`); `None` prints none.
    stats_interval: Option<Duration>,
    /// `SO_RCVBUF`/`SO_SNDBUF` to ask for (`--sockbuf`; 0 leaves the system's default);
    /// `None` keeps the runtime's default.
    sockbuf: Option<usize>,
    /// Where to connect; `None` in listen mode.
    destination: Option<SocketAddr>,
}

/// The outcome of parsing the command line.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    /// Print the usage text and exit successfully.
    Help,
    /// Transfer data.
    Run(Options),
}

/// Parses an IP literal, saying that names are not resolved otherwise.
fn parse_ip(what: &str, s: &str) -> Result<IpAddr, String> {
    // Accept the bracketed IPv6 form too, as in URLs.
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse().map_err(|_| {
        format!("{what} '{s}' is not an IP address (utpcat does not resolve host names)")
    })
}

/// Parses a port number; `allow_zero` admits 0 (any free port).
fn parse_port(what: &str, s: &str, allow_zero: bool) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(0) if !allow_zero => Err(format!("{what} must not be 0")),
        Ok(p) => Ok(p),
        Err(_) => Err(format!("invalid {what} '{s}'")),
    }
}

/// Parses the arguments (without the program name), getopt style: short options may be grouped
/// (`-dd`, `-lp 9000`), a value may be attached (`-p9000`), options and operands may be mixed,
/// and `--` ends the options.
fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut debug = 0;
    let mut listen = false;
    let mut local_port = None;
    let mut source = None;
    let mut stdin_buffer = DEFAULT_STDIN_BUFFER;
    let mut stats = false;
    let mut sockbuf = None;
    let mut stats_interval = None;
    let mut operands = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            operands.extend(args.by_ref());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (long, None),
            };
            match name {
                "stats" if attached.is_none() => stats = true,
                "help" if attached.is_none() => return Ok(Command::Help),
                "sockbuf" | "stats-interval" => {
                    let value = match attached {
                        Some(v) => v,
                        None => args
                            .next()
                            .ok_or_else(|| format!("option --{name} needs a value"))?,
                    };
                    if name == "sockbuf" {
                        sockbuf = match value.parse::<usize>() {
                            Ok(n) if n <= MAX_SOCKBUF => Some(n),
                            _ => {
                                return Err(format!(
                                    "invalid socket buffer size '{value}' (0 to {MAX_SOCKBUF})"
                                ))
                            }
                        };
                    } else {
                        stats_interval = match value.parse::<u64>() {
                            Ok(ms) if (1..=MAX_STATS_INTERVAL_MS).contains(&ms) => {
                                Some(Duration::from_millis(ms))
                            }
                            _ => {
                                return Err(format!(
                                    "invalid statistics interval '{value}' \
                                     (1 to {MAX_STATS_INTERVAL_MS} ms)"
                                ))
                            }
                        };
                    }
                }
                _ => return Err(format!("unknown option '{arg}'")),
            }
            continue;
        }
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            operands.push(arg);
            continue;
        };
        for (i, flag) in flags.char_indices() {
            match flag {
                'h' => return Ok(Command::Help),
                'd' => debug += 1,
                'l' => listen = true,
                'n' => {}
                'p' | 's' | 'B' => {
                    let attached = &flags[i + flag.len_utf8()..];
                    let value = if attached.is_empty() {
                        args.next()
                            .ok_or_else(|| format!("option -{flag} needs a value"))?
                    } else {
                        attached.to_owned()
                    };
                    match flag {
                        'p' => local_port = Some(parse_port("local port", &value, true)?),
                        's' => source = Some(parse_ip("source address", &value)?),
                        _ => {
                            stdin_buffer = match value.parse::<usize>() {
                                Ok(n) if (1..=MAX_STDIN_BUFFER).contains(&n) => n,
                                _ => {
                                    return Err(format!(
                                        "invalid buffer size '{value}' (1 to {MAX_STDIN_BUFFER})"
                                    ))
                                }
                            }
                        }
                    }
                    // The rest of this argument was the value.
                    break;
                }
                _ => return Err(format!("unknown option '-{flag}'")),
            }
        }
    }
    let destination = if listen {
        if !operands.is_empty() {
            return Err("listen mode takes no destination".into());
        }
        if local_port.is_none() {
            return Err("listen mode needs a port (-p)".into());
        }
        None
    } else {
        let [ip, port] = operands.as_slice() else {
            return Err("expected <destination-IP> <destination-port>, or -l -p <port>".into());
        };
        let ip = parse_ip("destination", ip)?;
        Some(SocketAddr::new(
            ip,
            parse_port("destination port", port, false)?,
        ))
    };
    if let (Some(src), Some(dst)) = (source, destination) {
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(format!(
                "source {src} and destination {} are of different address families",
                dst.ip()
            ));
        }
    }
    Ok(Command::Run(Options {
        debug,
        listen,
        local_port,
        source,
        stdin_buffer,
        stats,
        stats_interval,
        sockbuf,
        destination,
    }))
}

/// The local address to bind: `-s` and `-p`, defaulting to the wildcard address of the
/// destination's family and to any free port.
fn bind_address(opts: &Options) -> SocketAddr {
    let ip = opts.source.unwrap_or(match opts.destination {
        Some(d) if d.is_ipv6() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    });
    SocketAddr::new(ip, opts.local_port.unwrap_or(0))
}

/// Reads the monotonic clock, for the `--stats` transfer time only.
// The crate confines clock reads to its runtime (clippy.toml) because the engine takes time as
// an input; this program measures wall time for the user and feeds nothing to the engine.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// Adds what was being done to an I/O error's message, keeping its kind.
fn context(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Prints a diagnostic line to stderr when the verbosity is at least `level`.
fn debug(opts: &Options, level: u32, msg: std::fmt::Arguments<'_>) {
    if opts.debug >= level {
        eprintln!("utpcat: {msg}");
    }
}

/// Forwards the library's `log` records to stderr (`-dd` and more).
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        eprintln!(
            "utpcat: [{} {}] {}",
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}

/// The logger installed by `-dd`.
static LOGGER: StderrLogger = StderrLogger;

/// A duplicate of one of the standard descriptors as a `File`: unbuffered, so stdin is read in
/// `-B` chunks and stdout gets whole received chunks, with no line buffering.
fn raw_file(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<File> {
    Ok(File::from(fd.try_clone_to_owned()?))
}

/// Copies stdin to the stream in chunks of `chunk` bytes, then shuts the stream's write side.
/// Returns the number of bytes sent.
fn send_stdin(stream: &UtpStream, chunk: usize, progress: &AtomicU64) -> io::Result<u64> {
    let mut input = raw_file(io::stdin().as_fd()).map_err(|e| context("stdin", e))?;
    let mut buf = vec![0; chunk];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(context("stdin", e)),
        };
        let mut out = stream;
        out.write_all(&buf[..n]).map_err(|e| context("send", e))?;
        total += n as u64;
        progress.store(total, Ordering::Relaxed);
    }
    // Our FIN, then wait until the peer acknowledged everything: exiting earlier would lose
    // what is still in flight.
    stream.finish().map_err(|e| context("finish", e))?;
    Ok(total)
}

/// Copies the stream to stdout until the peer's end of stream. Returns the bytes received.
fn receive_stdout(stream: &UtpStream, progress: &AtomicU64) -> io::Result<u64> {
    let mut output = raw_file(io::stdout().as_fd()).map_err(|e| context("stdout", e))?;
    let mut buf = vec![0; RECV_BUFFER];
    let mut total = 0u64;
    let mut input = stream;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(context("receive", e)),
        };
        output
            .write_all(&buf[..n])
            .map_err(|e| context("stdout", e))?;
        total += n as u64;
        progress.store(total, Ordering::Relaxed);
    }
}

/// Bytes moved each way, shared with the progress line.
#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    done: AtomicBool,
}

/// How often the progress line is redrawn, and how long a transfer runs before it appears.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// Keeps a progress line on stderr (a terminal) until `counters.done`.
fn show_progress(counters: &Counters, started: Instant) {
    let mut shown = false;
    let mut last = (0u64, 0u64, started);
    while !counters.done.load(Ordering::Relaxed) {
        thread::park_timeout(PROGRESS_INTERVAL);
        if counters.done.load(Ordering::Relaxed) {
            break;
        }
        let t = now();
        let (sent, received) = (
            counters.sent.load(Ordering::Relaxed),
            counters.received.load(Ordering::Relaxed),
        );
        let dt = t.duration_since(last.2).as_secs_f64();
        eprint!(
            "\rutpcat: sent {:.1} MiB ({:.1} MiB/s), received {:.1} MiB ({:.1} MiB/s), {:.0} s   ",
            sent as f64 / 1048576.0,
            mib_per_sec(sent - last.0, dt),
            received as f64 / 1048576.0,
            mib_per_sec(received - last.1, dt),
            t.duration_since(started).as_secs_f64(),
        );
        shown = true;
        last = (sent, received, t);
    }
    if shown {
        eprintln!();
    }
}

/// Prints one `--stats-interval` line to stderr every `period` until `counters.done`: the time
/// since the transfer started, the rates each way over the interval, and the connection's
/// congestion window, round-trip time and queuing delay (ours: of the data we send).
fn print_intervals(stream: &UtpStream, counters: &Counters, started: Instant, period: Duration) {
    let mut last = (0u64, 0u64, started);
    let mut next = started + period;
    while !counters.done.load(Ordering::Relaxed) {
        let t = now();
        if t < next {
            thread::park_timeout(next - t);
            continue;
        }
        next += period;
        let (sent, received) = (
            counters.sent.load(Ordering::Relaxed),
            counters.received.load(Ordering::Relaxed),
        );
        let dt = t.duration_since(last.2).as_secs_f64();
        let state = match stream.stats() {
            Ok(s) => format!(
                "cwnd {} bytes, rtt {:.3} ms, queuing delay {:.3} ms",
                s.cwnd,
                s.rtt.as_secs_f64() * 1000.0,
                s.queuing_delay.as_secs_f64() * 1000.0
            ),
            Err(e) => format!("no connection statistics: {e}"),
        };
        eprintln!(
            "utpcat: interval at {:.3} s: sent {:.2} MiB/s, received {:.2} MiB/s, {state}",
            t.duration_since(started).as_secs_f64(),
            mib_per_sec(sent - last.0, dt),
            mib_per_sec(received - last.1, dt),
        );
        last = (sent, received, t);
    }
}

/// Mebibytes per second for `bytes` moved in `secs` seconds.
fn mib_per_sec(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 / (1024.0 * 1024.0) / secs
    } else {
        0.0
    }
}

/// Prints the `--stats` report to stderr.
fn print_stats(sent: u64, received: u64, elapsed: Duration, stats: io::Result<ConnectionStats>) {
    let secs = elapsed.as_secs_f64();
    eprintln!(
        "utpcat: sent {sent} bytes ({:.2} MiB/s), received {received} bytes ({:.2} MiB/s) \
         in {secs:.3} s",
        mib_per_sec(sent, secs),
        mib_per_sec(received, secs),
    );
    match stats {
        Ok(s) => eprintln!(
            "utpcat: rtt {:.3} ms, rto {} ms, retransmits {} ({} fast, {} spurious), \
             timeouts {}, cwnd {} bytes, mtu {}, packets sent {} received {} \
             (duplicates {}), payload sent {} bytes (retransmissions included)",
            s.rtt.as_secs_f64() * 1000.0,
            s.rto.as_millis(),
            s.retransmits,
            s.fast_retransmits,
            s.spurious_retransmits,
            s.timeouts,
            s.cwnd,
            s.mtu,
            s.packets_sent,
            s.packets_received,
            s.duplicates_received,
            s.bytes_sent,
        ),
        Err(e) => eprintln!("utpcat: connection statistics unavailable: {e}"),
    }
}

/// Runs a transfer; errors are reported by the caller.
fn run(opts: &Options) -> io::Result<()> {
    if opts.debug >= 2 && log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(if opts.debug >= 3 {
            log::LevelFilter::Trace
        } else {
            log::LevelFilter::Debug
        });
    }
    let bind = bind_address(opts);
    let mut options = SocketOptions::default();
    if let Some(n) = opts.sockbuf {
        options.udp = UdpOptions {
            recv_buffer: n,
            send_buffer: n,
            ..options.udp
        };
    }
    let socket =
        UtpSocket::bind_with(bind, options).map_err(|e| context(&format!("bind {bind}"), e))?;
    let local = socket.local_addr()?;
    debug(opts, 1, format_args!("bound to {local}"));
    let stream = match opts.destination {
        Some(dest) => {
            debug(opts, 1, format_args!("connecting to {dest}"));
            let s = socket
                .connect(dest)
                .map_err(|e| context(&format!("connect {dest}"), e))?;
            debug(opts, 1, format_args!("connected to {dest}"));
            s
        }
        None => {
            debug(opts, 1, format_args!("listening on {local}"));
            let (s, peer) = socket.accept().map_err(|e| context("accept", e))?;
            debug(opts, 1, format_args!("accepted a connection from {peer}"));
            s
        }
    };
    let started = now();
    let counters = Arc::new(Counters::default());
    let progress = if io::stderr().is_terminal() {
        let c = counters.clone();
        thread::Builder::new()
            .name("utpcat progress".into())
            .spawn(move || show_progress(&c, started))
            .ok()
    } else {
        None
    };
    let intervals = match opts.stats_interval {
        Some(period) => {
            let (c, s) = (counters.clone(), stream.try_clone()?);
            Some(
                thread::Builder::new()
                    .name("utpcat stats".into())
                    .spawn(move || print_intervals(&s, &c, started, period))?,
            )
        }
        None => None,
    };
    let stop_progress = || {
        counters.done.store(true, Ordering::Relaxed);
        for helper in [&progress, &intervals].into_iter().flatten() {
            helper.thread().unpark();
        }
    };

    let sender = stream.try_clone()?;
    let sender_counters = counters.clone();
    let chunk = opts.stdin_buffer;
    let debug_level = opts.debug;
    let writer = thread::Builder::new()
        .name("utpcat stdin".into())
        .spawn(move || {
            let sent = send_stdin(&sender, chunk, &sender_counters.sent);
            if debug_level >= 1 {
                match &sent {
                    Ok(n) => eprintln!("utpcat: end of stdin after {n} bytes, all acknowledged"),
                    Err(e) => eprintln!("utpcat: sending stopped: {e}"),
                }
            }
            sent.map(|n| (n, now()))
        })?;

    let received = receive_stdout(&stream, &counters.received);
    let received = match received {
        Ok(n) => n,
        Err(e) => {
            stop_progress();
            if opts.stats {
                print_stats(0, 0, started.elapsed(), stream.stats());
            }
            // The sender may be blocked on stdin: leave it; the process is about to exit.
            return Err(e);
        }
    };
    let peer_finished_at = now();
    debug(
        opts,
        1,
        format_args!("peer finished sending after {received} bytes"),
    );
    // Our own direction may still be going (stdin not finished): wait for it.
    let sent = writer
        .join()
        .map_err(|_| io::Error::other("the stdin thread panicked"));
    stop_progress();
    for helper in [progress, intervals].into_iter().flatten() {
        let _ = helper.join();
    }
    let (sent, sent_done_at) = sent??;
    let elapsed = started.elapsed();
    if opts.stats {
        print_stats(sent, received, elapsed, stream.stats());
    }
    if peer_finished_at > sent_done_at {
        // The peer's FIN came last: as TCP's TIME-WAIT, stay a while so that the engine can
        // acknowledge it again should our acknowledgement have been lost (libutp resends its
        // FIN after its retransmission timeout, and a peer that meets a closed port instead
        // reports a reset; libutp's ucat then aborts).
        debug(
            opts,
            1,
            format_args!("lingering {} ms for the peer's FIN", LINGER.as_millis()),
        );
        thread::sleep(LINGER);
    }
    debug(opts, 1, format_args!("closing"));
    drop(stream);
    // Dropping the socket lets the connection finish (FINs acknowledged) for a short grace
    // period and stops the driver.
    drop(socket);
    debug(opts, 1, format_args!("done"));
    Ok(())
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(opts)) => opts,
        Err(msg) => {
            eprintln!("utpcat: {msg}");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("utpcat: {e}");
            // Do not wait for the stdin thread, which may be blocked reading.
            std::process::exit(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    fn run_opts(args: &[&str]) -> Options {
        match parse(args) {
            Ok(Command::Run(o)) => o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn connect_mode() {
        let o = run_opts(&["-dd", "-B", "100", "127.0.0.1", "9000", "--stats"]);
        assert_eq!(o.debug, 2);
        assert_eq!(o.stdin_buffer, 100);
        assert!(o.stats && !o.listen);
        assert_eq!(o.sockbuf, None);
        assert_eq!(o.stats_interval, None);
        let o = run_opts(&["--sockbuf", "65536", "127.0.0.1", "9000"]);
        assert_eq!(o.sockbuf, Some(65536));
        let o = run_opts(&["--sockbuf=1024", "127.0.0.1", "9000"]);
        assert_eq!(o.sockbuf, Some(1024));
        let o = run_opts(&[
            "--sockbuf",
            "0",
            "--stats-interval",
            "250",
            "127.0.0.1",
            "9000",
        ]);
        assert_eq!(o.sockbuf, Some(0));
        assert_eq!(o.stats_interval, Some(Duration::from_millis(250)));
        assert_eq!(o.destination, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(bind_address(&o), "0.0.0.0:0".parse().unwrap());
        let o = run_opts(&["::1", "9000"]);
        assert_eq!(bind_address(&o), "[::]:0".parse().unwrap());
    }

    #[test]
    fn listen_mode() {
        let o = run_opts(&["-lp9000", "-s", "127.0.0.1", "-n"]);
        assert!(o.listen);
        assert_eq!(bind_address(&o), "127.0.0.1:9000".parse().unwrap());
        let o = run_opts(&["-l", "-p", "9000"]);
        assert_eq!(bind_address(&o), "0.0.0.0:9000".parse().unwrap());
    }

    #[test]
    fn usage_errors() {
        assert_eq!(parse(&["-h", "x"]), Ok(Command::Help));
        for bad in [
            &["-l"][..],
            &["-l", "-p", "1", "127.0.0.1", "2"],
            &["localhost", "9000"],
            &["127.0.0.1"],
            &["127.0.0.1", "0"],
            &["127.0.0.1", "70000"],
            &["-s", "::", "127.0.0.1", "1"],
            &["-B", "0", "127.0.0.1", "1"],
            &["-x", "127.0.0.1", "1"],
            &["-p"],
            &["--sockbuf", "-1", "127.0.0.1", "1"],
            &["--stats-interval", "0", "127.0.0.1", "1"],
            &["--stats-interval=x", "127.0.0.1", "1"],
            &["--sockbuf=x", "127.0.0.1", "1"],
            &["127.0.0.1", "1", "--sockbuf"],
            &["--stats=1", "127.0.0.1", "1"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
