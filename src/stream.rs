//! The blocking Rust API over the managed runtime, shaped like `std::net`.
//!
//! [`UtpSocket::bind`] opens a UDP socket and hands it to a worker of the runtime's thread pool
//! ([`Runtime`]: by default one shared pool sized to the machine, which exists while some socket
//! uses it); the socket both connects ([`UtpSocket::connect`]) and accepts
//! ([`UtpSocket::accept`], [`UtpSocket::incoming`]). A [`UtpStream`] reads and writes like a
//! `TcpStream`; dropping the last handle to it closes it gracefully. Dropping the [`UtpSocket`]
//! closes every connection and lets their FINs out for up to [`SHUTDOWN_GRACE`]; streams still
//! held then fail with `NotConnected`. When the last socket of a runtime is dropped, its
//! threads are joined.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use utp::stream::UtpSocket;
//!
//! let server = UtpSocket::bind("127.0.0.1:0".parse().unwrap())?;
//! let client = UtpSocket::bind("127.0.0.1:0".parse().unwrap())?;
//! let mut a = client.connect(server.local_addr()?)?;
//! let (mut b, _peer) = server.accept()?;
//! a.write_all(b"hello")?;
//! a.shutdown(std::net::Shutdown::Write)?;
//! let mut got = String::new();
//! b.read_to_string(&mut got)?;
//! assert_eq!(got, "hello");
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::proto::{
    Config, ConnectionError, ConnectionHandle, ConnectionStats, Endpoint, StreamError,
};
use crate::runtime::clock;
pub use crate::runtime::driver::SHUTDOWN_GRACE;
use crate::runtime::driver::{ConnState, NonUtpHandler, Shared, State};
pub use crate::runtime::pool::Runtime;
use crate::runtime::udp::{UdpOptions, UdpSocket};
use parking_lot::{Mutex, MutexGuard};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections one managed socket holds by default. The engine's default is libutp's 3000,
/// which a busy torrent client or tracker-less swarm outgrows on one port; an idle connection
/// costs a few KiB and no CPU between keepalives (README: idle cost).
const DEFAULT_MAX_CONNECTIONS: usize = 65_536;

/// Full-size data packets a managed socket receives before it acknowledges; with
/// `Config::adaptive_ack` a burst that ends is acknowledged soon after (short packets,
/// out-of-order data and FINs at once). An ACK per two packets, or per receive batch (one or two
/// datagrams on loopback), cost the receiver about a quarter of its CPU in sends alone
/// (README: benchmarks). libutp acknowledges once per batch its application reads.
const DEFAULT_ACK_EVERY: u16 = 8;

/// Connections waiting for `accept` before further SYNs are refused.
const DEFAULT_BACKLOG: usize = 1024;

/// Options of a managed socket.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// Engine configuration.
    pub config: Config,
    /// UDP socket setup.
    pub udp: UdpOptions,
    /// Accept queue length.
    pub backlog: usize,
    /// The thread pool that drives the socket; `None`: the shared default ([`Runtime::shared`]).
    pub runtime: Option<Runtime>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        // The window must not outgrow what the socket buffers absorb (shared/peers.md): 4 MiB
        // socket buffers for a 1 MiB window.
        SocketOptions {
            config: Config {
                max_connections: DEFAULT_MAX_CONNECTIONS,
                ack_every: DEFAULT_ACK_EVERY,
                adaptive_ack: true,
                ..Config::default()
            },
            udp: UdpOptions::default(),
            backlog: DEFAULT_BACKLOG,
            runtime: None,
        }
    }
}

fn map_connection(e: ConnectionError) -> io::Error {
    let kind = match e {
        ConnectionError::Refused => io::ErrorKind::ConnectionRefused,
        ConnectionError::Reset => io::ErrorKind::ConnectionReset,
        ConnectionError::TimedOut => io::ErrorKind::TimedOut,
        ConnectionError::Evicted => io::ErrorKind::ConnectionAborted,
    };
    io::Error::new(kind, e)
}

pub(crate) fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "uTP socket closed")
}

/// A managed uTP socket: one UDP socket, any number of connections.
pub struct UtpSocket {
    shared: Arc<Shared>,
    local: SocketAddr,
    // Dropped after `shared` is finished with: joins the pool's threads if this was the last
    // socket on it.
    runtime: Runtime,
}

impl UtpSocket {
    /// Binds a UDP socket to `addr` and hands it to the shared runtime.
    pub fn bind(addr: SocketAddr) -> io::Result<UtpSocket> {
        UtpSocket::bind_with(addr, SocketOptions::default())
    }

    /// [`UtpSocket::bind`] with options.
    pub fn bind_with(addr: SocketAddr, options: SocketOptions) -> io::Result<UtpSocket> {
        let seed = {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(clock::monotonic_micros())
        };
        let endpoint = Endpoint::new(options.config, seed)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let socket = UdpSocket::bind(addr, &options.udp)?;
        let local = socket.local_addr()?;
        let runtime = match options.runtime {
            Some(rt) => rt,
            None => Runtime::shared()?,
        };
        let shared = runtime.register(|wake| {
            Ok(Arc::new(Shared {
                state: Mutex::new(State::new(endpoint, options.backlog)),
                changed: Default::default(),
                socket,
                wake,
            }))
        })?;
        Ok(UtpSocket {
            shared,
            local,
            runtime,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// Connects to `addr`, blocking until the handshake completes or fails (refused, or timed
    /// out after the SYN budget, about 31 s).
    pub fn connect(&self, addr: SocketAddr) -> io::Result<UtpStream> {
        let stream = self.start_connect(addr)?;
        let mut st = self.shared.state.lock();
        loop {
            match connect_outcome(&st, stream.inner.handle) {
                Some(result) => {
                    drop(st);
                    // On failure, dropping the stream releases the connection.
                    return result.map(|()| stream);
                }
                None => self.shared.changed.wait(&mut st),
            }
        }
    }

    /// Sends a SYN to `addr`. The stream is usable once [`connect_outcome`] says so; dropping
    /// it before then abandons the connection.
    pub(crate) fn start_connect(&self, addr: SocketAddr) -> io::Result<UtpStream> {
        let mut st = self.shared.state.lock();
        if st.closing {
            return Err(not_connected());
        }
        let h = st
            .endpoint
            .connect(clock::now(), addr)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        st.conns.insert(h, ConnState::default());
        pump(&self.shared, &mut st);
        Ok(UtpStream::new(self.shared.clone(), h, addr, self.local))
    }

    /// Waits for an incoming connection.
    pub fn accept(&self) -> io::Result<(UtpStream, SocketAddr)> {
        let mut st = self.shared.state.lock();
        loop {
            match self.try_accept(&mut st) {
                Some(result) => return result,
                None => self.shared.changed.wait(&mut st),
            }
        }
    }

    /// Takes a connection from the accept queue; `None` when there is none yet.
    pub(crate) fn try_accept(&self, st: &mut State) -> Option<io::Result<(UtpStream, SocketAddr)>> {
        if let Some((h, addr)) = st.take_confirmed() {
            let stream = UtpStream::new(self.shared.clone(), h, addr, self.local);
            return Some(Ok((stream, addr)));
        }
        if st.stopped || st.closing {
            return Some(Err(not_connected()));
        }
        None
    }

    /// What the socket's threads and tasks share with its driver.
    #[cfg(feature = "async")]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// An endless iterator of [`UtpSocket::accept`] results.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { socket: self }
    }

    /// Installs a handler for datagrams that are not uTP (for example a DHT sharing the port).
    /// It runs on the driver thread with the socket's lock held: it must not call back into
    /// this socket.
    pub fn set_non_utp_handler(&self, handler: NonUtpHandler) {
        self.shared.state.lock().non_utp = Some(handler);
    }

    /// Sends a datagram that is not uTP from this socket (the other half of sharing a port).
    pub fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.shared.socket.send_to(data, to)
    }

    /// Connections currently held by the engine (including ones finishing their close).
    pub fn connection_count(&self) -> usize {
        self.shared.state.lock().endpoint.connection_count()
    }
}

impl Drop for UtpSocket {
    fn drop(&mut self) {
        {
            let mut st = self.shared.state.lock();
            st.closing = true;
            let now = clock::now();
            let handles: Vec<ConnectionHandle> = st.conns.keys().copied().collect();
            for h in handles {
                let _ = st.endpoint.close(now, h);
            }
            while let Some((h, _)) = st.accept_queue.pop_front() {
                let _ = st.endpoint.close(now, h);
            }
            pump(&self.shared, &mut st);
            st.wakers.wake_all();
            self.shared.changed.notify_all();
            // The worker must notice `closing` whatever its deadline.
            self.shared.wake.wake();
            // Wait for the worker to let the FINs out and forget the socket (it cannot, if
            // this thread is that worker).
            if !self.runtime.is_worker_thread() {
                while !st.stopped {
                    self.shared.changed.wait(&mut st);
                }
            }
        }
    }
}

/// Iterator over incoming connections, from [`UtpSocket::incoming`].
pub struct Incoming<'a> {
    socket: &'a UtpSocket,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UtpStream>;
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.socket.accept().map(|(s, _)| s))
    }
}

/// The outcome of the handshake of outgoing connection `h`; `None` while it is in progress.
pub(crate) fn connect_outcome(st: &State, h: ConnectionHandle) -> Option<io::Result<()>> {
    let c = st.conns.get(&h).copied().unwrap_or_default();
    if let Some(e) = c.error {
        return Some(Err(map_connection(e)));
    }
    if c.connected {
        return Some(Ok(()));
    }
    if st.stopped || st.closing {
        return Some(Err(not_connected()));
    }
    None
}

/// Sends what the engine produced and wakes waiters and the driver.
pub(crate) fn pump(shared: &Shared, st: &mut MutexGuard<'_, State>) {
    if st.pump(&shared.socket) {
        shared.changed.notify_all();
    }
    shared.wake_if_sooner(st);
}

struct StreamInner {
    shared: Arc<Shared>,
    handle: ConnectionHandle,
    peer: SocketAddr,
    local: SocketAddr,
    read_timeout: Mutex<Option<Duration>>,
    write_timeout: Mutex<Option<Duration>>,
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        let mut st = self.shared.state.lock();
        st.release(self.handle);
        pump(&self.shared, &mut st);
    }
}

/// A uTP connection: `Read` and `Write` like a `TcpStream`.
#[derive(Clone)]
pub struct UtpStream {
    inner: Arc<StreamInner>,
}

impl UtpStream {
    fn new(
        shared: Arc<Shared>,
        handle: ConnectionHandle,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Self {
        UtpStream {
            inner: Arc::new(StreamInner {
                shared,
                handle,
                peer,
                local,
                read_timeout: Mutex::new(None),
                write_timeout: Mutex::new(None),
            }),
        }
    }

    /// The socket's shared state and this connection's handle in it.
    #[cfg(any(test, feature = "async"))]
    pub(crate) fn parts(&self) -> (&Arc<Shared>, ConnectionHandle) {
        (&self.inner.shared, self.inner.handle)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.peer)
    }

    /// The local socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.local)
    }

    /// Another handle to the same connection (it closes when the last handle is dropped).
    pub fn try_clone(&self) -> io::Result<UtpStream> {
        Ok(self.clone())
    }

    /// Reads time out after `timeout` (`None`: block forever) with `WouldBlock`, as
    /// `TcpStream` does on Unix. A zero duration is invalid.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        *self.inner.read_timeout.lock() = timeout;
        Ok(())
    }

    /// Writes time out after `timeout` with `WouldBlock`. A zero duration is invalid.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        *self.inner.write_timeout.lock() = timeout;
        Ok(())
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self.inner.read_timeout.lock())
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self.inner.write_timeout.lock())
    }

    /// Shuts down reading (reads then return `Ok(0)`, as `TcpStream`'s do), writing (our FIN
    /// after the data written), or both. On a connection that has failed, the failure.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let inner = &self.inner;
        let mut st = inner.shared.state.lock();
        let h = inner.handle;
        let result = match how {
            Shutdown::Write => st.endpoint.shutdown(h),
            Shutdown::Read => st.endpoint.shutdown_read(h),
            Shutdown::Both => st
                .endpoint
                .shutdown_read(h)
                .and_then(|()| st.endpoint.shutdown(h)),
        };
        pump(&inner.shared, &mut st);
        result.map_err(|e| stream_error(e, &st, h))?;
        // Shutting down a failed connection reports the failure, as a write would.
        match st.conns.get(&h).and_then(|c| c.error) {
            Some(e) => Err(map_connection(e)),
            None => Ok(()),
        }
    }

    /// Finishes our direction: shuts the write side down (our FIN after the data written) and
    /// blocks until the peer has acknowledged every byte and the FIN. After `Ok` the data is at
    /// the peer, even if this process exits at once; dropping the stream or its socket gives
    /// unacknowledged data only [`SHUTDOWN_GRACE`]. Reading goes on. Bounded by the write
    /// timeout (`TimedOut` when it passes first); fails as a write does if the connection fails
    /// or the socket is closed meanwhile.
    pub fn finish(&self) -> io::Result<()> {
        let inner = &self.inner;
        let deadline = deadline(*inner.write_timeout.lock());
        let h = inner.handle;
        let mut st = inner.shared.state.lock();
        st.endpoint
            .shutdown(h)
            .map_err(|e| stream_error(e, &st, h))?;
        pump(&inner.shared, &mut st);
        loop {
            match st.endpoint.poll_flushed(h) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(stream_error(e, &st, h)),
            }
            if st.closing || st.stopped {
                return Err(not_connected());
            }
            if !self.wait(&mut st, deadline) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "finish timed out before the peer acknowledged everything",
                ));
            }
        }
    }

    /// The connection's counters.
    pub fn stats(&self) -> io::Result<ConnectionStats> {
        let st = self.inner.shared.state.lock();
        st.endpoint
            .connection_stats(self.inner.handle)
            .map_err(|e| stream_error(e, &st, self.inner.handle))
    }

    /// Waits on the socket's condition variable until `deadline` (if any); false when it passed.
    fn wait(&self, st: &mut MutexGuard<'_, State>, deadline: Option<Instant>) -> bool {
        match deadline {
            None => {
                self.inner.shared.changed.wait(st);
                true
            }
            Some(d) => !self.inner.shared.changed.wait_until(st, d).timed_out(),
        }
    }
}

fn check_timeout(timeout: Option<Duration>) -> io::Result<()> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "zero timeout"));
    }
    Ok(())
}

/// Maps an engine error on connection `h` to `io::Error`.
pub(crate) fn stream_error(e: StreamError, st: &State, h: ConnectionHandle) -> io::Error {
    match e {
        StreamError::Connection(c) => map_connection(c),
        StreamError::WriteClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "write side shut down")
        }
        StreamError::WouldBlock => io::Error::from(io::ErrorKind::WouldBlock),
        StreamError::UnknownConnection => match st.conns.get(&h).and_then(|c| c.error) {
            Some(c) => map_connection(c),
            None => not_connected(),
        },
    }
}

#[allow(clippy::disallowed_methods)] // The runtime reads the clock (deadlines of timeouts).
fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

impl Read for &UtpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let inner = &self.inner;
        let h = inner.handle;
        let deadline = deadline(*inner.read_timeout.lock());
        let mut st = inner.shared.state.lock();
        loop {
            match st.endpoint.read(h, buf) {
                // Dropping the socket closed the connection, which ends its reads: not a
                // clean end of stream.
                Ok(0) if st.closing || st.stopped => return Err(not_connected()),
                Ok(n) => {
                    pump(&inner.shared, &mut st);
                    return Ok(n);
                }
                Err(StreamError::WouldBlock) => {
                    if st.stopped {
                        return Err(not_connected());
                    }
                    // While this thread waits, the driver may write the next payloads straight
                    // into `buf` (runtime/posted.rs). The buffer is taken back under the lock
                    // right after the wait, on every path, before `buf` is touched again; the
                    // wait cannot unwind.
                    let posted = st.post_read(h, buf);
                    let woken = self.wait(&mut st, deadline);
                    if posted {
                        let filled = st.take_posted(h);
                        if filled > 0 {
                            pump(&inner.shared, &mut st);
                            return Ok(filled);
                        }
                    }
                    if !woken {
                        return Err(io::Error::new(io::ErrorKind::WouldBlock, "read timed out"));
                    }
                }
                Err(e) => return Err(stream_error(e, &st, h)),
            }
        }
    }
}

impl Write for &UtpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let inner = &self.inner;
        let deadline = deadline(*inner.write_timeout.lock());
        let mut st = inner.shared.state.lock();
        loop {
            if st.closing || st.stopped {
                return Err(not_connected());
            }
            match st.endpoint.write(inner.handle, buf) {
                Ok(n) => {
                    pump(&inner.shared, &mut st);
                    return Ok(n);
                }
                Err(StreamError::WouldBlock) => {
                    if !self.wait(&mut st, deadline) {
                        return Err(io::Error::new(io::ErrorKind::WouldBlock, "write timed out"));
                    }
                }
                Err(e) => return Err(stream_error(e, &st, inner.handle)),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for UtpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for UtpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for UtpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UtpStream")
            .field("peer", &self.inner.peer)
            .field("local", &self.inner.local)
            .finish()
    }
}

impl std::fmt::Debug for UtpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UtpSocket")
            .field("local", &self.local)
            .finish()
    }
}
