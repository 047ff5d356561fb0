//! Many concurrent transfers: N connections over 127.0.0.1 to one server socket, each moving
//! M bytes at the same time, against a baseline of the same N x M bytes over one connection in
//! the same process (issue 9, "many connections"). Needs the `async` feature.
//!
//! ```text
//! cargo run --release --features async --example many_transfers -- [--connections N]
//!     [--mib M | --bytes B] [--client-sockets K] [--server-threads S] [--client-threads C]
//!     [--app-threads A] [--baseline-bytes B | --no-baseline] [--send-buffer BYTES]
//!     [--timeout SECONDS] [--json]
//! ```
//!
//! Defaults: 10,000 connections of 1 MiB each, from 4 client sockets to one server socket; the
//! server socket on its own 1-thread [`Runtime`], the client sockets on another (1 thread), and
//! the application's tasks on a tokio runtime with 2 worker threads. One UDP socket per
//! connection would need 10,000 ports and descriptors; a managed socket holds any number of
//! connections, and the client sockets' connections are spread round robin.
//!
//! Threads stay bounded: every connection end is a task of the async API
//! ([`utp::stream_async`], futures-io), so 20,000 connection ends need no more threads than the
//! runtimes above. Reads go through one 64 KiB buffer per tokio worker thread and are checked
//! in the poll that returns them; writes come straight out of one shared pattern. The
//! application thus holds no per-connection data buffer (only small task states), and nearly
//! all of the memory figures are the library's.
//!
//! 1. Baseline (unless `--no-baseline`): one connection from the first client socket moves
//!    N x M bytes (or `--baseline-bytes`) the same way; then the example waits until the
//!    engines no longer hold it (a closed connection lingers there for `Config::linger`, 3 s
//!    by default, to acknowledge a retransmitted FIN).
//! 2. The N connections are opened (in waves of 500 connects) and accepted; resident memory is
//!    read before and after, and the peak (`VmHWM`) is reset before (`/proc/self/clear_refs`).
//! 3. Transfer: each client end writes an 8-byte header (its index) and M bytes of a pattern
//!    that depends on the index, then finishes (`close`: our FIN, and waits until the peer has
//!    acknowledged everything); each server end reads to the end of stream and checks every
//!    byte and the count as they arrive. Timed from starting the tasks until the last of both
//!    kinds ended.
//! 4. The example waits (up to 30 s) until the engines hold no connection, gives the C heap's
//!    free memory back (`malloc_trim`) and reads resident memory again: what the library keeps
//!    once its connections are gone.
//!
//! Reported for each phase: wall time, aggregate MiB/s of payload, process CPU (getrusage,
//! user + system, all threads of both ends) and CPU seconds per GiB, the CPU of the runtime
//! workers (`utp-worker-N` threads) and of the tokio workers, datagrams sent by both ends and
//! retransmissions and retransmission timeouts of the senders (the connections' counters);
//! then memory per connection (resident memory after opening the N connections less before,
//! over N; and the peak during the transfer less the resident memory before, over N; the
//! application holds no per-connection buffer, so nearly all of it is the library's) and the
//! ratios of the many connections to the one (MiB/s, CPU per GiB). `--json` adds one line of
//! JSON with every figure at the end.
//!
//! Any failed connect, accept, write, finish or check (wrong byte, short or long stream, an
//! error) or a phase outlasting `--timeout` (default 600 s) ends with status 1 and the first
//! error. Only 127.0.0.1 is used.

use futures_io::{AsyncRead, AsyncWrite};
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use utp::stream::{Runtime, SocketOptions};
use utp::stream_async::{AsyncUtpSocket, AsyncUtpStream};

/// Command-line settings.
struct Settings {
    /// Concurrent connections.
    connections: usize,
    /// Payload bytes each connection moves.
    bytes: u64,
    /// Client sockets the connections are spread over.
    client_sockets: usize,
    /// Worker threads of the server socket's runtime.
    server_threads: usize,
    /// Worker threads of the client sockets' runtime.
    client_threads: usize,
    /// Worker threads of the tokio runtime running the connection tasks.
    app_threads: usize,
    /// Bytes of the one-connection baseline; 0: none.
    baseline_bytes: u64,
    /// Limit on each phase.
    timeout: Duration,
    /// Print a JSON line at the end.
    json: bool,
    /// `Config::send_buffer` and `Config::max_send_buffer` of every socket, if given.
    send_buffer: Option<usize>,
}

const USAGE: &str = "usage: many_transfers [--connections N] [--mib M | --bytes B] \
     [--client-sockets K] [--server-threads S] [--client-threads C] [--app-threads A] \
     [--baseline-bytes B | --no-baseline] [--send-buffer BYTES] [--timeout SECONDS] [--json]";

/// Connects started together while the N connections are opened.
const CONNECT_WAVE: usize = 500;
/// Length of the data pattern: a prime, so that each connection's offset into it differs.
const PATTERN_LEN: usize = 65_521;
/// Size of each tokio worker's read buffer.
const READ_BUF: usize = 64 << 10;
/// Name prefix of the utp runtime's worker threads.
const WORKER_PREFIX: &str = "utp-worker-";
/// Name of tokio's worker threads.
const TOKIO_WORKER: &str = "tokio-rt-worker";

fn parse_args() -> Result<Settings, String> {
    let mut s = Settings {
        connections: 10_000,
        bytes: 1 << 20,
        client_sockets: 4,
        server_threads: 1,
        client_threads: 1,
        app_threads: 2,
        baseline_bytes: 0,
        timeout: Duration::from_secs(600),
        json: false,
        send_buffer: None,
    };
    let mut baseline = None;
    let mut no_baseline = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => {
                s.json = true;
                continue;
            }
            "--no-baseline" => {
                no_baseline = true;
                continue;
            }
            _ => {}
        }
        let v = args.next().ok_or(format!("{arg} needs a value"))?;
        let n: u64 = v
            .parse()
            .map_err(|_| format!("{arg}: '{v}' is not a number"))?;
        match arg.as_str() {
            "--connections" => s.connections = n as usize,
            "--mib" => s.bytes = n << 20,
            "--bytes" => s.bytes = n,
            "--client-sockets" => s.client_sockets = n as usize,
            "--server-threads" => s.server_threads = n as usize,
            "--client-threads" => s.client_threads = n as usize,
            "--app-threads" => s.app_threads = n as usize,
            "--baseline-bytes" => baseline = Some(n),
            "--timeout" => s.timeout = Duration::from_secs(n),
            "--send-buffer" => s.send_buffer = Some(n as usize),
            _ => return Err(format!("unknown argument '{arg}'\n{USAGE}")),
        }
    }
    if s.connections == 0
        || s.bytes == 0
        || s.client_sockets == 0
        || s.server_threads == 0
        || s.client_threads == 0
        || s.app_threads == 0
        || s.timeout.is_zero()
    {
        return Err(format!(
            "every count, size and the timeout must be positive\n{USAGE}"
        ));
    }
    s.baseline_bytes = if no_baseline {
        0
    } else {
        baseline.unwrap_or(s.connections as u64 * s.bytes)
    };
    Ok(s)
}

/// Wall-clock reads for the measurement itself; nothing here feeds the engine.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// User + system CPU time of the whole process.
fn process_cpu() -> Duration {
    // SAFETY: `rusage` is plain data, so all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable `rusage` for the duration of the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU time (user + system) of this process's live threads whose name starts with `prefix`,
/// from `/proc/self/task/ID/stat` at clock-tick resolution.
fn threads_cpu(prefix: &str) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    let mut ticks = 0;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // The name (field 2) is in parentheses and may hold spaces: fields after its end.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // State is field 3, so utime (14) and stime (15) are at 11 and 12 after the name.
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        ticks += field(11).unwrap_or(0) + field(12).unwrap_or(0);
    }
    Duration::from_micros(ticks * 1_000_000 / hz)
}

#[path = "common/procfs.rs"]
mod procfs;
use procfs::{rcvbuf_errors, status_kib};

/// The data pattern: PATTERN_LEN pseudo-random bytes (xorshift), the same in every run.
fn pattern() -> &'static [u8] {
    static PATTERN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..PATTERN_LEN)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    })
}

/// The pattern from stream offset `offset` of connection `index` to the end of the pattern:
/// connection `index` starts at its own place in it.
fn expected(index: u64, offset: u64) -> &'static [u8] {
    let p = PATTERN_LEN as u64;
    let start = (offset + index.wrapping_mul(7919) % p) % p;
    &pattern()[start as usize..]
}

/// Binds a socket on 127.0.0.1 driven by `runtime`. All clients share one address and open
/// their connections at once: the per-address and half-open limits (defences for a port open
/// to the internet) are lifted, as in examples/idle_cost.rs. Everything else is the default,
/// but for `--send-buffer`.
fn bind_loopback(runtime: &Runtime, send_buffer: Option<usize>) -> io::Result<AsyncUtpSocket> {
    let defaults = SocketOptions::default();
    let mut options = SocketOptions {
        runtime: Some(runtime.clone()),
        config: utp::proto::Config {
            max_connections_per_ip: defaults.config.max_connections,
            max_half_open: defaults.config.max_connections,
            ..defaults.config.clone()
        },
        ..defaults
    };
    if let Some(bytes) = send_buffer {
        options.config.send_buffer = bytes;
        options.config.max_send_buffer = bytes;
    }
    AsyncUtpSocket::bind_with(SocketAddr::from(([127, 0, 0, 1], 0)), options)
}

/// Writes all of `buf`.
async fn write_all(stream: &AsyncUtpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut &*stream).poll_write(cx, buf)).await?;
        buf = &buf[n..];
    }
    Ok(())
}

/// What one connection's sender saw.
#[derive(Default, Clone, Copy)]
struct SendReport {
    packets_sent: u64,
    retransmits: u64,
    timeouts: u64,
}

/// Client end of connection `index`: the header, `bytes` of its pattern, then finish.
async fn send(stream: AsyncUtpStream, index: u64, bytes: u64) -> Result<SendReport, String> {
    let fail = |what: &str, e: io::Error| format!("connection {index}: {what}: {e}");
    write_all(&stream, &index.to_le_bytes())
        .await
        .map_err(|e| fail("write", e))?;
    let mut offset = 0;
    while offset < bytes {
        let chunk = expected(index, offset);
        let n = chunk.len().min((bytes - offset) as usize);
        write_all(&stream, &chunk[..n])
            .await
            .map_err(|e| fail("write", e))?;
        offset += n as u64;
    }
    poll_fn(|cx| Pin::new(&mut &stream).poll_close(cx))
        .await
        .map_err(|e| fail("finish", e))?;
    let st = stream.stats().map_err(|e| fail("stats", e))?;
    Ok(SendReport {
        packets_sent: st.packets_sent,
        retransmits: st.retransmits,
        timeouts: st.timeouts,
    })
}

/// Checks a server end's bytes as they arrive.
struct Checker {
    header: [u8; 8],
    header_len: usize,
    index: u64,
    got: u64,
    bytes: u64,
}

impl Checker {
    fn consume(&mut self, mut data: &[u8]) -> Result<(), String> {
        if self.header_len < 8 {
            let n = data.len().min(8 - self.header_len);
            self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
            self.header_len += n;
            data = &data[n..];
            if self.header_len == 8 {
                self.index = u64::from_le_bytes(self.header);
            }
        }
        while !data.is_empty() {
            if self.got >= self.bytes {
                return Err(format!(
                    "connection {}: more than the {} bytes sent",
                    self.index, self.bytes
                ));
            }
            let want = expected(self.index, self.got);
            let n = data
                .len()
                .min(want.len())
                .min((self.bytes - self.got) as usize);
            if data[..n] != want[..n] {
                let at = (0..n).find(|&i| data[i] != want[i]).unwrap_or(0);
                return Err(format!(
                    "connection {}: wrong byte at offset {}",
                    self.index,
                    self.got + at as u64
                ));
            }
            self.got += n as u64;
            data = &data[n..];
        }
        Ok(())
    }
}

thread_local! {
    /// The read buffer of each tokio worker thread: filled and checked within one poll.
    static READ: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUF]);
}

/// Server end: reads to the end of stream, checking every byte; returns the datagrams it sent.
async fn receive(stream: AsyncUtpStream, bytes: u64) -> Result<u64, String> {
    let mut check = Checker {
        header: [0; 8],
        header_len: 0,
        index: u64::MAX,
        got: 0,
        bytes,
    };
    loop {
        let n = poll_fn(|cx| {
            READ.with(|buf| {
                let mut buf = buf.borrow_mut();
                match Pin::new(&mut &stream).poll_read(cx, &mut buf[..]) {
                    Poll::Ready(Ok(n)) => Poll::Ready(check.consume(&buf[..n]).map(|()| n)),
                    Poll::Ready(Err(e)) => Poll::Ready(Err(format!(
                        "connection {} (server end): read: {e}",
                        check.index
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            })
        })
        .await?;
        if n == 0 {
            break;
        }
    }
    if check.header_len < 8 || check.got != bytes {
        return Err(format!(
            "connection {}: stream ended after {} of {bytes} bytes",
            check.index, check.got
        ));
    }
    stream
        .stats()
        .map(|s| s.packets_sent)
        .map_err(|e| format!("connection {}: stats: {e}", check.index))
}

/// CPU and wall time at one moment.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    process: Duration,
    utp: Duration,
    app: Duration,
}

fn sample() -> Sample {
    Sample {
        at: now(),
        process: process_cpu(),
        utp: threads_cpu(WORKER_PREFIX),
        app: threads_cpu(TOKIO_WORKER),
    }
}

/// The figures of one transfer phase.
struct Phase {
    connections: usize,
    bytes_each: u64,
    wall: f64,
    cpu: f64,
    utp_cpu: f64,
    app_cpu: f64,
    packets: u64,
    retransmits: u64,
    timeouts: u64,
    rcvbuf_errors: Option<u64>,
}

impl Phase {
    fn total_bytes(&self) -> u64 {
        self.connections as u64 * self.bytes_each
    }
    fn mib_s(&self) -> f64 {
        self.total_bytes() as f64 / (1 << 20) as f64 / self.wall
    }
    fn cpu_per_gib(&self) -> f64 {
        self.cpu / (self.total_bytes() as f64 / (1u64 << 30) as f64)
    }
    fn print(&self, name: &str) {
        println!(
            "{name}: {} x {} bytes in {:.2} s = {:.1} MiB/s; CPU {:.2} s = {:.3} s/GiB \
             (utp workers {:.2} s, tokio workers {:.2} s); datagrams sent {}, sender \
             retransmits {}, timeouts {}; host RcvbufErrors +{}",
            self.connections,
            self.bytes_each,
            self.wall,
            self.mib_s(),
            self.cpu,
            self.cpu_per_gib(),
            self.utp_cpu,
            self.app_cpu,
            self.packets,
            self.retransmits,
            self.timeouts,
            self.rcvbuf_errors
                .map_or_else(|| "?".to_owned(), |v| v.to_string())
        );
    }
    fn json(&self) -> String {
        format!(
            "{{\"connections\": {}, \"bytes_each\": {}, \"seconds\": {:.4}, \"mib_s\": {:.2}, \
             \"cpu_s\": {:.3}, \"cpu_s_per_gib\": {:.4}, \"utp_workers_cpu_s\": {:.2}, \
             \"tokio_workers_cpu_s\": {:.2}, \"datagrams_sent\": {}, \"retransmits\": {}, \
             \"timeouts\": {}, \"rcvbuf_errors\": {}}}",
            self.connections,
            self.bytes_each,
            self.wall,
            self.mib_s(),
            self.cpu,
            self.cpu_per_gib(),
            self.utp_cpu,
            self.app_cpu,
            self.packets,
            self.retransmits,
            self.timeouts,
            self.rcvbuf_errors
                .map_or_else(|| "null".to_owned(), |v| v.to_string())
        )
    }
}

/// The sockets of a run.
struct Sockets {
    server: Arc<AsyncUtpSocket>,
    clients: Vec<Arc<AsyncUtpSocket>>,
}

/// Opens `n` connections (client sockets round robin) and accepts them; returns the client
/// ends, with their index, and the server ends.
async fn establish(
    sockets: &Sockets,
    n: usize,
) -> Result<(Vec<AsyncUtpStream>, Vec<AsyncUtpStream>), String> {
    let addr = sockets.server.local_addr().map_err(|e| e.to_string())?;
    let server = sockets.server.clone();
    let acceptor = tokio::spawn(async move {
        let mut ends = Vec::with_capacity(n);
        for i in 0..n {
            let (s, _) = server
                .accept()
                .await
                .map_err(|e| format!("accept {i}: {e}"))?;
            ends.push(s);
        }
        Ok::<_, String>(ends)
    });
    let mut clients = Vec::with_capacity(n);
    let mut first = 0;
    while first < n {
        let wave: Vec<_> = (first..n.min(first + CONNECT_WAVE))
            .map(|i| {
                let sock = sockets.clients[i % sockets.clients.len()].clone();
                tokio::spawn(async move {
                    sock.connect(addr)
                        .await
                        .map_err(|e| format!("connect {i}: {e}"))
                })
            })
            .collect();
        for task in wave {
            clients.push(task.await.map_err(|e| e.to_string())??);
        }
        first += CONNECT_WAVE;
    }
    let servers = acceptor.await.map_err(|e| e.to_string())??;
    Ok((clients, servers))
}

/// Moves `bytes` over every pair of ends concurrently and checks them.
async fn transfer(
    clients: Vec<AsyncUtpStream>,
    servers: Vec<AsyncUtpStream>,
    bytes: u64,
) -> Result<Phase, String> {
    let connections = clients.len();
    let drops0 = rcvbuf_errors();
    let a = sample();
    let senders: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| tokio::spawn(send(c, i as u64, bytes)))
        .collect();
    let receivers: Vec<_> = servers
        .into_iter()
        .map(|s| tokio::spawn(receive(s, bytes)))
        .collect();
    let mut first_error = None;
    let mut failed = 0usize;
    let mut sent = SendReport::default();
    let mut packets = 0;
    for t in senders {
        match t.await.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(r) => {
                sent.packets_sent += r.packets_sent;
                sent.retransmits += r.retransmits;
                sent.timeouts += r.timeouts;
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    for t in receivers {
        match t.await.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(p) => packets += p,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let b = sample();
    if let Some(e) = first_error {
        return Err(format!("{failed} connection end(s) failed; first: {e}"));
    }
    Ok(Phase {
        connections,
        bytes_each: bytes,
        wall: (b.at - a.at).as_secs_f64(),
        cpu: (b.process - a.process).as_secs_f64(),
        utp_cpu: b.utp.saturating_sub(a.utp).as_secs_f64(),
        app_cpu: b.app.saturating_sub(a.app).as_secs_f64(),
        packets: packets + sent.packets_sent,
        retransmits: sent.retransmits,
        timeouts: sent.timeouts,
        rcvbuf_errors: rcvbuf_errors()
            .zip(drops0)
            .map(|(b, a)| b.saturating_sub(a)),
    })
}

/// Runs `fut` on `rt` with the phase time limit.
fn phase<T>(
    rt: &tokio::runtime::Runtime,
    s: &Settings,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    rt.block_on(async { tokio::time::timeout(s.timeout, fut).await })
        .map_err(|_| format!("{what} took longer than {} s", s.timeout.as_secs()))?
}

/// Gives the C heap's free memory back to the operating system (glibc's `malloc_trim`).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn kib(v: Option<u64>) -> String {
    v.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

fn run(s: &Settings) -> Result<(), String> {
    let e = |e: io::Error| e.to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(s.app_threads)
        .enable_time()
        .build()
        .map_err(e)?;
    let server_rt = Runtime::new(s.server_threads).map_err(e)?;
    let client_rt = Runtime::new(s.client_threads).map_err(e)?;
    // Sockets bind inside the tokio runtime: nothing in them needs it, but it is where they
    // are used.
    let sockets = rt.block_on(async {
        Ok::<_, io::Error>(Sockets {
            server: Arc::new(bind_loopback(&server_rt, s.send_buffer)?),
            clients: (0..s.client_sockets)
                .map(|_| bind_loopback(&client_rt, s.send_buffer).map(Arc::new))
                .collect::<io::Result<_>>()?,
        })
    });
    let sockets = sockets.map_err(e)?;
    println!(
        "many_transfers: {} connections x {} bytes to one server socket ({}) from {} client \
         socket(s); utp runtimes: server {} thread(s), clients {} thread(s); tokio {} worker \
         thread(s); baseline: one connection x {} bytes; send buffer {}; {} CPU(s)",
        s.connections,
        s.bytes,
        sockets.server.local_addr().map_err(e)?,
        s.client_sockets,
        s.server_threads,
        s.client_threads,
        s.app_threads,
        s.baseline_bytes,
        s.send_buffer
            .map_or_else(|| "default".to_owned(), |b| format!("{b} bytes")),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let baseline = if s.baseline_bytes > 0 {
        let one = Sockets {
            server: sockets.server.clone(),
            clients: vec![sockets.clients[0].clone()],
        };
        let p = phase(&rt, s, "the baseline", async {
            let (c, sv) = establish(&one, 1).await?;
            transfer(c, sv, s.baseline_bytes).await
        })?;
        p.print("baseline, one connection");
        // Its connection finishes closing in the engines (the last ACK of its FIN) before the
        // N connections are opened and counted.
        let t = now();
        while sockets.server.connection_count() + sockets.clients[0].connection_count() > 0 {
            if now() - t > Duration::from_secs(30) {
                return Err("the baseline's connection still open 30 s after it ended".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        println!(
            "the baseline's connection left the engines {:.2} s after its transfer ended",
            (now() - t).as_secs_f64()
        );
        Some(p)
    } else {
        None
    };

    // The peak resident memory restarts here (Linux: "5" resets VmHWM), so the baseline's
    // does not count. Best effort: without it the peak covers the whole process.
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss0 = status_kib("VmRSS:");
    let t0 = now();
    let (clients, servers) = phase(
        &rt,
        s,
        "opening the connections",
        establish(&sockets, s.connections),
    )?;
    let setup = (now() - t0).as_secs_f64();
    let rss1 = status_kib("VmRSS:");
    let held = (
        sockets.server.connection_count(),
        sockets
            .clients
            .iter()
            .map(|c| c.connection_count())
            .sum::<usize>(),
    );
    let per_conn = |a: Option<u64>, b: Option<u64>| {
        a.zip(b)
            .map(|(a, b)| b.saturating_sub(a) as f64 * 1024.0 / s.connections as f64)
    };
    let idle_per_conn = per_conn(rss0, rss1);
    println!(
        "opened and accepted {} connections in {setup:.2} s (engines hold: server {}, clients \
         {}); resident memory {} KiB before, {} KiB after: {} bytes per connection (both ends)",
        s.connections,
        held.0,
        held.1,
        kib(rss0),
        kib(rss1),
        idle_per_conn.map_or_else(|| "?".to_owned(), |v| format!("{v:.0}"))
    );
    if held != (s.connections, s.connections) {
        return Err(format!(
            "the engines hold {held:?} connections, not {} on each side",
            s.connections
        ));
    }

    let many = phase(&rt, s, "the transfer", transfer(clients, servers, s.bytes))?;
    many.print("many connections");
    let rss2 = status_kib("VmRSS:");
    let hwm = status_kib("VmHWM:");
    // What stays resident once the connections are gone and the C heap has given its free
    // memory back (glibc keeps freed memory for reuse otherwise): the engines' own holdings.
    let t = now();
    let open = || {
        sockets.server.connection_count()
            + sockets
                .clients
                .iter()
                .map(|c| c.connection_count())
                .sum::<usize>()
    };
    while open() > 0 && now() - t < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let closing = (now() - t).as_secs_f64();
    let left = open();
    trim_heap();
    let rss3 = status_kib("VmRSS:");
    let peak_per_conn = per_conn(rss0, hwm);
    println!(
        "memory: resident {} KiB after the transfer, peak {} KiB{}: peak less before = {} bytes \
         per connection (both ends, transfer buffers included)",
        kib(rss2),
        kib(hwm),
        if hwm_reset {
            " (since the connections were opened)"
        } else {
            " (whole process: VmHWM could not be reset)"
        },
        peak_per_conn.map_or_else(|| "?".to_owned(), |v| format!("{v:.0}"))
    );
    println!(
        "memory: resident {} KiB once the connections left the engines ({closing:.2} s after \
         the transfer ended; {left} still there) and the heap was trimmed",
        kib(rss3)
    );
    let ratios = baseline.as_ref().map(|b| {
        (
            many.mib_s() / b.mib_s(),
            many.cpu_per_gib() / b.cpu_per_gib(),
        )
    });
    if let Some((thr, cpu)) = ratios {
        println!("ratio many / one: throughput x{thr:.2}, CPU per GiB x{cpu:.2}");
    }
    if s.json {
        let opt = |v: Option<f64>| v.map_or_else(|| "null".to_owned(), |v| format!("{v:.1}"));
        println!(
            "{{\"connections\": {}, \"bytes_each\": {}, \"client_sockets\": {}, \
             \"server_threads\": {}, \"client_threads\": {}, \"app_threads\": {}, \
             \"setup_s\": {setup:.3}, \"many\": {}, \"baseline\": {}, \
             \"rss_before_kib\": {}, \"rss_established_kib\": {}, \"rss_after_kib\": {}, \"rss_trimmed_kib\": {}, \
             \"peak_rss_kib\": {}, \"peak_reset\": {hwm_reset}, \"closing_s\": {closing:.2}, \
             \"bytes_per_connection_established\": {}, \"bytes_per_connection_peak\": {}, \
             \"ratio_mib_s\": {}, \"ratio_cpu_per_gib\": {}}}",
            s.connections,
            s.bytes,
            s.client_sockets,
            s.server_threads,
            s.client_threads,
            s.app_threads,
            many.json(),
            baseline
                .as_ref()
                .map_or_else(|| "null".to_owned(), Phase::json),
            kib(rss0),
            kib(rss1),
            kib(rss2),
            kib(rss3),
            kib(hwm),
            opt(idle_per_conn),
            opt(peak_per_conn),
            ratios.map_or_else(|| "null".to_owned(), |r| format!("{:.4}", r.0)),
            ratios.map_or_else(|| "null".to_owned(), |r| format!("{:.4}", r.1)),
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let settings = match parse_args() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("many_transfers: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}
