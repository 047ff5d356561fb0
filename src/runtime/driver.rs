//! The I/O driver of one managed socket: a thread that sleeps in `poll(2)` on the UDP socket
//! and a waker, feeds datagrams and timeouts to the engine, sends what it produces, and turns
//! engine events into state that application threads wait on.
//!
//! Locking: the engine and the per-connection state live in one `parking_lot::Mutex`
//! ([`Shared::state`]); application threads take it for each operation, and after every input
//! whoever holds it sends the engine's datagrams ([`State::pump`]) and wakes waiters through
//! [`Shared::changed`]. Application threads signal the driver's waker after each operation, so
//! the driver re-reads the engine's next deadline.

use super::clock;
use super::udp::{IcmpKind, UdpSocket};
use super::wake::{wait, Waker};
use super::wakers::Wakers;
use crate::proto::{ConnectionError, ConnectionHandle, DatagramEvent, Endpoint, Event};
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Largest datagram the driver receives or builds.
const DATAGRAM: usize = 65_536;
/// Datagrams read per wake-up before timers and transmits get their turn.
const RECV_BATCH: usize = 256;
/// How long a closing socket waits for its connections to finish (FINs acknowledged).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Handler for datagrams that are not uTP (a DHT sharing the socket, say).
pub type NonUtpHandler = Box<dyn FnMut(&[u8], SocketAddr) + Send>;

/// What application threads know about one connection.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnState {
    /// The handshake completed.
    pub connected: bool,
    /// The peer finished sending.
    pub eof: bool,
    /// The connection failed.
    pub error: Option<ConnectionError>,
    /// The engine released it (`Event::Closed`).
    pub closed: bool,
    /// The application dropped every handle to it.
    pub dropped: bool,
}

/// The engine and everything guarded with it.
pub struct State {
    /// The engine.
    pub endpoint: Endpoint,
    /// Connections the application may hold.
    pub conns: HashMap<ConnectionHandle, ConnState>,
    /// Accepted connections not yet taken by `accept`.
    pub accept_queue: VecDeque<(ConnectionHandle, SocketAddr)>,
    /// Most connections waiting in `accept_queue`; further SYNs are refused.
    pub backlog: usize,
    /// The socket was dropped: no new connections; the driver exits when all are finished.
    pub closing: bool,
    /// The driver thread has exited.
    pub stopped: bool,
    /// Handler for non-uTP datagrams.
    pub non_utp: Option<NonUtpHandler>,
    /// A local send failure left a datagram unsent; counted for diagnostics.
    pub send_failures: u64,
    /// Tasks of the async API waiting for events (what `Shared::changed` is to threads).
    pub wakers: Wakers,
    buf: Vec<u8>,
}

/// What the driver and application threads share.
pub struct Shared {
    /// The engine and connection state.
    pub state: Mutex<State>,
    /// Notified whenever connection state changes.
    pub changed: Condvar,
    /// The UDP socket.
    pub socket: UdpSocket,
    /// Wakes the driver.
    pub waker: Waker,
}

impl State {
    /// A state around `endpoint`.
    pub fn new(endpoint: Endpoint, backlog: usize) -> Self {
        State {
            endpoint,
            conns: HashMap::new(),
            accept_queue: VecDeque::new(),
            backlog,
            closing: false,
            stopped: false,
            non_utp: None,
            send_failures: 0,
            wakers: Wakers::default(),
            buf: vec![0; DATAGRAM],
        }
    }

    /// Sends every datagram the engine has, then applies its events. Returns whether any
    /// connection state changed (waiters should be woken).
    pub fn pump(&mut self, socket: &UdpSocket) -> bool {
        let now = clock::now();
        while let Some(t) = self.endpoint.poll_transmit(now, &mut self.buf) {
            send(self, socket, t.len, t.destination, t.dont_fragment);
        }
        let mut changed = false;
        while let Some((h, event)) = self.endpoint.poll_event() {
            changed = true;
            self.wakers.on_event(h, event);
            let Some(c) = self.conns.get_mut(&h) else {
                continue;
            };
            match event {
                Event::Connected => c.connected = true,
                Event::Eof => c.eof = true,
                Event::Error(e) => c.error = Some(e),
                Event::Closed => c.closed = true,
                Event::Readable | Event::Writable => {}
            }
            if c.closed && c.dropped {
                self.conns.remove(&h);
            }
        }
        changed
    }

    /// The application gave up connection `h` (dropped its last handle, or a connect failed):
    /// close it, and forget it once the engine has released it.
    pub fn release(&mut self, h: ConnectionHandle) {
        let _ = self.endpoint.close(clock::now(), h);
        if let Some(c) = self.conns.get_mut(&h) {
            c.dropped = true;
            if c.closed {
                self.conns.remove(&h);
            }
        }
    }

    /// Feeds the socket's queued ICMP errors to the engine; returns how many there were.
    pub fn drain_errors(&mut self, socket: &UdpSocket) -> usize {
        let mut quoted = [0u8; 2048];
        let mut count = 0;
        while let Ok(Some(e)) = socket.recv_error(&mut quoted) {
            count += 1;
            let original = &quoted[..e.len.min(quoted.len())];
            match e.kind {
                IcmpKind::Unreachable => {
                    self.endpoint
                        .handle_icmp_error(clock::now(), e.destination, original);
                }
                IcmpKind::FragmentationNeeded { .. } => {
                    if let Some(max) = e.max_payload() {
                        self.endpoint
                            .handle_icmp_fragmentation(e.destination, original, max);
                    }
                }
            }
        }
        count
    }

    /// Feeds one received datagram.
    fn datagram(&mut self, data_len: usize, from: SocketAddr, data: &[u8]) {
        let now = clock::now();
        match self.endpoint.handle_datagram(now, from, &data[..data_len]) {
            DatagramEvent::Incoming(incoming) => {
                if self.closing || self.accept_queue.len() >= self.backlog {
                    self.endpoint.refuse(now, incoming);
                    return;
                }
                if let Ok(h) = self.endpoint.accept(now, incoming) {
                    self.conns.insert(h, ConnState::default());
                    self.accept_queue.push_back((h, from));
                    self.wakers.wake_acceptors();
                }
            }
            DatagramEvent::NotUtp => {
                if let Some(handler) = self.non_utp.as_mut() {
                    handler(&data[..data_len], from);
                }
            }
            DatagramEvent::Handled => {}
        }
    }
}

/// Sends one datagram; a full socket buffer is waited out briefly (a local send failure is not
/// network loss, so it is retried rather than left to retransmission). An error that reports
/// an ICMP message about an earlier datagram (IP_RECVERR) leaves this one unsent: the error
/// queue is drained into the engine and the send retried.
fn send(st: &mut State, socket: &UdpSocket, len: usize, to: SocketAddr, dont_fragment: bool) {
    let mut icmp_retries = 0;
    for attempt in 0..100 {
        let data = &st.buf[..len];
        let result = if dont_fragment {
            socket.send_to_dont_fragment(data, to)
        } else {
            socket.send_to(data, to)
        };
        match result {
            Ok(_) => return,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && attempt < 99 => {
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if icmp_retries < 2 && st.drain_errors(socket) > 0 => {
                log::debug!("send to {to}: {e}; ICMP errors drained, retrying");
                icmp_retries += 1;
            }
            Err(e) => {
                log::debug!("send to {to} failed: {e}");
                st.send_failures += 1;
                return;
            }
        }
    }
}

/// The driver thread's loop: runs until the socket is closed and its connections are done.
pub fn run(shared: &Shared) {
    let mut rx = vec![0u8; DATAGRAM];
    let mut closing_since: Option<std::time::Duration> = None;
    loop {
        let timeout = {
            let mut st = shared.state.lock();
            if st.closing {
                let now = clock::monotonic_micros();
                let started = *closing_since.get_or_insert(Duration::from_micros(now));
                // Lingering (already closed) connections only re-acknowledge FINs: a closing
                // socket does not wait for them.
                let done = st.endpoint.active_connection_count() == 0;
                if done || Duration::from_micros(now) >= started + SHUTDOWN_GRACE {
                    st.stopped = true;
                    st.wakers.wake_all();
                    shared.changed.notify_all();
                    return;
                }
            }
            let now = clock::now();
            let mut timeout = st
                .endpoint
                .poll_timeout()
                .map(|t| t.saturating_duration_since(now));
            if st.closing {
                // Re-check the grace period now and then.
                timeout = Some(timeout.map_or(Duration::from_millis(100), |t| {
                    t.min(Duration::from_millis(100))
                }));
            }
            timeout
        };
        let ready = match wait(shared.socket.as_raw_fd(), &shared.waker, timeout) {
            Ok(r) => r,
            Err(e) => {
                log::error!("driver poll failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if ready.woken {
            shared.waker.reset();
        }
        let mut st = shared.state.lock();
        if ready.socket {
            for _ in 0..RECV_BATCH {
                match shared.socket.recv_from(&mut rx) {
                    Ok((n, from)) => st.datagram(n, from, &rx),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // An ICMP error about an earlier datagram (IP_RECVERR): feed the queue
                        // to the engine, then keep reading.
                        log::debug!("receive error: {e}");
                        st.drain_errors(&shared.socket);
                    }
                }
            }
            st.drain_errors(&shared.socket);
            st.endpoint.flush_acks();
        }
        st.endpoint.handle_timeout(clock::now());
        if st.pump(&shared.socket) {
            shared.changed.notify_all();
        }
    }
}
