//! Moves a file over real uTP on the loopback interface by driving the sans-IO engine
//! ([`utp::proto::Endpoint`]) directly over a `std::net::UdpSocket`.
//!
//! The library's managed runtime does not exist yet, so this example *is* the runtime: it owns
//! the socket and the clock and follows the drive loop contract documented on
//! [`utp::proto::endpoint`]: feed every datagram to `handle_datagram`, call `handle_timeout`
//! once `poll_timeout` has passed, and after every input (datagram, timeout, connect, accept,
//! write, read, shutdown, close) drain `poll_transmit` and `poll_event`.
//!
//! ```text
//! udp_file_transfer receive <bind-addr> <out-file>   # prints the bound address, accepts one connection
//! udp_file_transfer send <peer-addr> <in-file>       # sends the file, then closes
//! ```
//!
//! `scripts/demo.sh` runs both halves as two processes and checks the copy is byte-identical.
//! Only loopback addresses are accepted: there is no authentication, and the buffer sizes below
//! are chosen for the loopback interface. Every wait is bounded: either side gives up after
//! [`IDLE_TIMEOUT`] without progress, and the engine itself fails a connection whose peer stops
//! answering.

use std::collections::hash_map::RandomState;
use std::error::Error;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufWriter, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use utp::proto::{
    Config, ConnectionHandle, ConnectionStats, DatagramEvent, Endpoint, Event, Instant, StreamError,
};

/// Errors end the program with a message; nothing here is worth recovering from.
type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Engine send and receive buffers. `std::net::UdpSocket` cannot raise `SO_RCVBUF`, and this
/// example may not pull in a crate that can, so a whole window must fit in the default socket
/// receive buffer (`net.core.rmem_default`, 208 KiB on typical Linux hosts). The kernel charges
/// each datagram its buffer's true size (2304 bytes for a 1402-byte packet on x86-64 Linux), so
/// 208 KiB holds only 92 full packets, about 124 KiB of payload: with 128 KiB windows bursts
/// still overflowed it on loopback (dozens to a hundred drops per 64 MiB, all repaired by fast
/// retransmission). 96 KiB (72 packets) leaves headroom. Staying below the socket
/// buffer also avoids libutp's well-known loopback pathology, where a 1 MiB window overruns
/// it, the losses collapse the congestion window, and throughput falls off a cliff.
const ENGINE_BUFFER: usize = 96 * 1024;

/// Either side gives up after this long without progress (no connection request, no new bytes
/// written into or read from the engine, no connection event).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Shortest socket read timeout: `set_read_timeout` rejects zero, and waking more often than
/// this only burns CPU.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// Longest socket read timeout, so the idle checks run even when the engine has no timer armed.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// Bound on a blocking `send_to`; a datagram that cannot go out in time counts as lost.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Room for one received datagram of any size UDP allows.
const DATAGRAM_BUFFER: usize = 64 * 1024;

/// How much of the input file is read at a time, and how much is read from the engine at a time.
const CHUNK: usize = 256 * 1024;

/// `ENOBUFS` on Linux: the local interface queue is full, the datagram is dropped.
const ENOBUFS: i32 = 105;

const MIB: f64 = 1024.0 * 1024.0;

/// The current time on the engine's clock: microseconds since the first call.
///
/// The engine never reads a clock (`clippy.toml` forbids `std::time::Instant::now` so that time
/// stays an input). This example is the runtime here, so this one function is where the wall
/// clock is read and converted for the engine; throughput is measured with it too.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    Instant::from_micros(u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX))
}

/// A random seed for connection ids and sequence numbers. std has no RNG, but its hash maps are
/// keyed from the operating system's randomness.
fn random_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// The engine configuration: defaults, with buffers sized for the socket (see [`ENGINE_BUFFER`]).
fn config() -> Config {
    Config {
        send_buffer: ENGINE_BUFFER,
        recv_buffer: ENGINE_BUFFER,
        ..Config::default()
    }
}

/// Parses a socket address and refuses anything but loopback.
fn loopback_addr(text: &str) -> Result<SocketAddr> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|e| format!("bad socket address {text:?}: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err(
            format!("{addr} is not a loopback address; this demo only uses loopback").into(),
        );
    }
    Ok(addr)
}

/// Seconds between two engine instants.
fn seconds(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64()
}

/// What a step of the socket loop brought in.
enum Input {
    /// A datagram, and what the engine made of it.
    Datagram(DatagramEvent),
    /// No datagram before the deadline; expired timers were handled.
    Timeout,
}

/// One UDP socket and the endpoint it carries: the drive loop of the engine.
struct Driver {
    socket: UdpSocket,
    endpoint: Endpoint,
    /// Where received datagrams land.
    rx: Vec<u8>,
    /// Where the engine writes datagrams to send.
    tx: Vec<u8>,
    /// Datagrams the socket refused or timed out on (counted as lost; the engine retransmits).
    send_errors: u64,
    /// Datagrams that were not uTP.
    not_utp: u64,
}

impl Driver {
    /// Binds `bind` and creates an endpoint with [`config`].
    fn bind(bind: SocketAddr) -> Result<Self> {
        let socket = UdpSocket::bind(bind).map_err(|e| format!("cannot bind {bind}: {e}"))?;
        socket
            .set_write_timeout(Some(SEND_TIMEOUT))
            .map_err(|e| format!("cannot set the socket send timeout: {e}"))?;
        let config = config();
        let tx = vec![0; config.max_packet_size_v4.max(config.max_packet_size_v6)];
        let endpoint = Endpoint::new(config, random_seed())?;
        Ok(Driver {
            socket,
            endpoint,
            rx: vec![0; DATAGRAM_BUFFER],
            tx,
            send_errors: 0,
            not_utp: 0,
        })
    }

    /// The address the socket is bound to.
    fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self
            .socket
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?)
    }

    /// Sends every datagram the engine has queued. UDP may lose datagrams anyway, so a send the
    /// kernel refuses for lack of buffer space is counted and dropped; the engine retransmits.
    fn flush(&mut self) -> Result<()> {
        while let Some(t) = self.endpoint.poll_transmit(now(), &mut self.tx) {
            // `t.dont_fragment` cannot be honoured with std's socket; loopback's MTU is 64 KiB.
            match self.socket.send_to(&self.tx[..t.len], t.destination) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::ConnectionRefused
                    ) || (cfg!(target_os = "linux") && e.raw_os_error() == Some(ENOBUFS)) =>
                {
                    self.send_errors += 1;
                }
                Err(e) => return Err(format!("send to {} failed: {e}", t.destination).into()),
            }
        }
        Ok(())
    }

    /// Feeds the engine one input: the next datagram if one arrives before the engine's next
    /// deadline (waiting at least [`MIN_WAIT`] and at most [`MAX_WAIT`]), else the timeout.
    fn step(&mut self) -> Result<Input> {
        let start = now();
        let deadline = self.endpoint.poll_timeout();
        if deadline.is_some_and(|at| at <= start) {
            self.endpoint.handle_timeout(start);
            return Ok(Input::Timeout);
        }
        let wait = deadline
            .map_or(MAX_WAIT, |at| at.saturating_duration_since(start))
            .clamp(MIN_WAIT, MAX_WAIT);
        self.socket
            .set_read_timeout(Some(wait))
            .map_err(|e| format!("cannot set the socket read timeout: {e}"))?;
        match self.socket.recv_from(&mut self.rx) {
            Ok((len, from)) => {
                let event = self.endpoint.handle_datagram(now(), from, &self.rx[..len]);
                if event == DatagramEvent::NotUtp {
                    self.not_utp += 1;
                }
                Ok(Input::Datagram(event))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        // An ICMP error for an earlier send (some platforms report it here).
                        | io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionReset
                ) =>
            {
                // Harmless when nothing has expired: only due timers fire.
                self.endpoint.handle_timeout(now());
                Ok(Input::Timeout)
            }
            Err(e) => Err(format!("receive failed: {e}").into()),
        }
    }

    /// After a connection's `Closed`: keeps acknowledging the peer for as long as the engine
    /// lingers (so a retransmitted FIN still gets its ACK), bounded by the configured linger.
    fn linger(&mut self) -> Result<()> {
        let until = now() + self.endpoint.config().linger + Duration::from_secs(1);
        while self.endpoint.connection_count() > 0 && now() < until {
            self.step()?;
            self.flush()?;
            // Nothing more can happen to a closed connection; drop late events, if any.
            while self.endpoint.poll_event().is_some() {}
        }
        Ok(())
    }

    /// Prints a connection's counters and the socket-level ones.
    fn report(&self, role: &str, stats: &ConnectionStats) {
        println!(
            "{role} stats: packets sent {} received {}, payload bytes sent {} received {}, \
             retransmits {} (fast {}, spurious {}), timeouts {}, duplicates received {}",
            stats.packets_sent,
            stats.packets_received,
            stats.bytes_sent,
            stats.bytes_received,
            stats.retransmits,
            stats.fast_retransmits,
            stats.spurious_retransmits,
            stats.timeouts,
            stats.duplicates_received,
        );
        println!(
            "{role} stats: rtt {:.3} ms, rto {:.1} ms, cwnd {} bytes, queuing delay {:.3} ms, \
             mtu {}, delay samples {}, socket send errors {}, non-uTP datagrams {}",
            stats.rtt.as_secs_f64() * 1e3,
            stats.rto.as_secs_f64() * 1e3,
            stats.cwnd,
            stats.queuing_delay.as_secs_f64() * 1e3,
            stats.mtu,
            stats.delay_samples,
            self.send_errors,
            self.not_utp,
        );
    }
}

/// Fails when nothing happened for [`IDLE_TIMEOUT`].
fn check_idle(last_progress: Instant, what: &str) -> Result<()> {
    if now().saturating_duration_since(last_progress) > IDLE_TIMEOUT {
        return Err(format!(
            "giving up: no progress for {} s while {what}",
            IDLE_TIMEOUT.as_secs()
        )
        .into());
    }
    Ok(())
}

/// `receive`: accepts exactly one connection on `bind`, writes what it carries to `out_path`,
/// and closes once the peer has finished sending.
fn receive(bind: SocketAddr, out_path: &str) -> Result<()> {
    let mut driver = Driver::bind(bind)?;
    let local = driver.local_addr()?;
    // First line of stdout: the bound address, for whoever started us (the port may be 0).
    let mut stdout = io::stdout();
    writeln!(stdout, "{local}")?;
    stdout.flush()?;

    let file = File::create(out_path).map_err(|e| format!("cannot create {out_path}: {e}"))?;
    let mut out = BufWriter::with_capacity(CHUNK, file);
    let mut buf = vec![0u8; CHUNK];

    let mut conn: Option<ConnectionHandle> = None;
    let mut accepted_at = now();
    let mut last_progress = now();
    let mut readable = false;
    let mut received: u64 = 0;
    let mut eof_at: Option<Instant> = None;
    let mut final_stats: Option<ConnectionStats> = None;
    let mut closed = false;

    while !closed {
        let what = match (conn, eof_at) {
            (None, _) => "waiting for a connection",
            (Some(_), None) => "receiving",
            (Some(_), Some(_)) => "closing",
        };
        check_idle(last_progress, what)?;
        if let Input::Datagram(DatagramEvent::Incoming(incoming)) = driver.step()? {
            if conn.is_none() {
                accepted_at = now();
                last_progress = accepted_at;
                eprintln!("receiver: connection from {}", incoming.remote());
                conn = Some(driver.endpoint.accept(accepted_at, incoming)?);
            } else {
                // Exactly one connection: anyone else is told no at once.
                driver.endpoint.refuse(now(), incoming);
            }
        }
        let Some(handle) = conn else {
            driver.flush()?;
            continue;
        };
        // Drain after the input, and again after each read or close (they are inputs too).
        loop {
            driver.flush()?;
            while let Some((h, event)) = driver.endpoint.poll_event() {
                if h != handle {
                    continue;
                }
                match event {
                    Event::Connected | Event::Confirmed => last_progress = now(),
                    Event::Readable | Event::Eof => readable = true,
                    Event::Writable | Event::Flushed => {}
                    Event::Error(e) => return Err(format!("connection failed: {e}").into()),
                    Event::Closed => closed = true,
                }
            }
            if closed || !readable || eof_at.is_some() {
                break;
            }
            // Read until the engine has nothing more: `Readable` is only reported again after
            // a read, so stopping early could leave data unread with no event to come.
            loop {
                match driver.endpoint.read(handle, &mut buf) {
                    Ok(0) => {
                        out.flush()
                            .map_err(|e| format!("cannot write {out_path}: {e}"))?;
                        let at = now();
                        eof_at = Some(at);
                        last_progress = at;
                        final_stats = Some(driver.endpoint.connection_stats(handle)?);
                        driver.endpoint.close(at, handle)?;
                        break;
                    }
                    Ok(n) => {
                        out.write_all(&buf[..n])
                            .map_err(|e| format!("cannot write {out_path}: {e}"))?;
                        received += n as u64;
                        last_progress = now();
                    }
                    Err(StreamError::WouldBlock) => {
                        readable = false;
                        break;
                    }
                    Err(e) => return Err(format!("read failed: {e}").into()),
                }
            }
        }
    }
    driver.linger()?;

    let eof_at = eof_at.ok_or("the connection closed before the end of the stream")?;
    let secs = seconds(accepted_at, eof_at);
    println!(
        "receiver: {received} bytes in {secs:.3} s = {:.1} MiB/s (accept to end of stream)",
        received as f64 / MIB / secs.max(1e-9)
    );
    if let Some(stats) = final_stats {
        driver.report("receiver", &stats);
    }
    Ok(())
}

/// `send`: connects to `peer`, writes all of `in_path`, shuts down and closes, and waits until
/// the peer has acknowledged everything.
fn send(peer: SocketAddr, in_path: &str) -> Result<()> {
    let bind: SocketAddr = if peer.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    }
    .parse()?;
    let mut driver = Driver::bind(bind)?;
    let mut file = File::open(in_path).map_err(|e| format!("cannot open {in_path}: {e}"))?;
    let mut chunk = vec![0u8; CHUNK];
    let (mut pos, mut end) = (0usize, 0usize);

    let handle = driver.endpoint.connect(now(), peer)?;
    let mut connected_at: Option<Instant> = None;
    let mut last_progress = now();
    let mut writable = false;
    let mut closing = false;
    let mut closed_at: Option<Instant> = None;
    let mut written: u64 = 0;
    // The handle is invalid once `Closed` is reported, so keep the latest snapshot: it is taken
    // after every input up to the one that completed the close.
    let mut last_stats = ConnectionStats::default();

    while closed_at.is_none() {
        let what = match (connected_at, closing) {
            (None, _) => "connecting",
            (Some(_), false) => "sending",
            (Some(_), true) => "closing",
        };
        check_idle(last_progress, what)?;
        driver.step()?;
        // Drain after the input, and again after each write, shutdown or close.
        loop {
            if let Ok(stats) = driver.endpoint.connection_stats(handle) {
                last_stats = stats;
            }
            driver.flush()?;
            while let Some((h, event)) = driver.endpoint.poll_event() {
                if h != handle {
                    continue;
                }
                match event {
                    Event::Connected => {
                        connected_at = Some(now());
                        last_progress = now();
                        writable = true;
                    }
                    Event::Writable => {
                        last_progress = now();
                        writable = true;
                    }
                    // The receiver sends no data; nothing here asks for Flushed.
                    Event::Readable | Event::Eof | Event::Flushed | Event::Confirmed => {}
                    Event::Error(e) => return Err(format!("connection failed: {e}").into()),
                    Event::Closed => closed_at = Some(now()),
                }
            }
            if closed_at.is_some() || !writable || closing {
                break;
            }
            // Write until the engine's send buffer is full or the file is done.
            loop {
                if pos == end {
                    end = file
                        .read(&mut chunk)
                        .map_err(|e| format!("cannot read {in_path}: {e}"))?;
                    pos = 0;
                }
                if end == 0 {
                    // Everything is in the engine: FIN after the data, then close gracefully.
                    driver.endpoint.shutdown(handle)?;
                    driver.endpoint.close(now(), handle)?;
                    closing = true;
                    last_progress = now();
                    break;
                }
                match driver.endpoint.write(handle, &chunk[pos..end]) {
                    Ok(n) => {
                        pos += n;
                        written += n as u64;
                        last_progress = now();
                        if pos < end {
                            // Cut short: `Writable` follows when there is room again.
                            writable = false;
                            break;
                        }
                    }
                    Err(StreamError::WouldBlock) => {
                        writable = false;
                        break;
                    }
                    Err(e) => return Err(format!("write failed: {e}").into()),
                }
            }
        }
    }
    driver.linger()?;

    let (Some(start), Some(end)) = (connected_at, closed_at) else {
        return Err("the connection closed before it was established".into());
    };
    let secs = seconds(start, end);
    println!(
        "sender: {written} bytes in {secs:.3} s = {:.1} MiB/s (connected to all acknowledged)",
        written as f64 / MIB / secs.max(1e-9)
    );
    driver.report("sender", &last_stats);
    Ok(())
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: udp_file_transfer receive <bind-addr> <out-file>\n       \
         udp_file_transfer send <peer-addr> <in-file>\n\
         addresses must be loopback, e.g. 127.0.0.1:0 to bind any port"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [cmd, addr, path] if cmd == "receive" => loopback_addr(addr).and_then(|a| receive(a, path)),
        [cmd, addr, path] if cmd == "send" => loopback_addr(addr).and_then(|a| send(a, path)),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let role = args.first().map_or("udp_file_transfer", String::as_str);
            eprintln!("{role}: error: {e}");
            ExitCode::FAILURE
        }
    }
}
