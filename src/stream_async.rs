//! The async Rust API over the managed runtime (feature `async`): the futures-io counterpart
//! of [`crate::stream`], usable from any executor.
//!
//! [`AsyncUtpSocket`] connects and accepts with futures; [`AsyncUtpStream`] implements
//! `futures_io::AsyncRead` and `AsyncWrite` (also for `&AsyncUtpStream`, so one task can read
//! while another writes). The socket's driver thread does the I/O; a task with nothing to do
//! leaves its waker in the socket's registry (`runtime::wakers`) and the driver wakes it when the
//! engine reports the event it waits for. Nothing polls on a timer.
//!
//! Guarantees:
//! - Cancellation: a read takes bytes out of the engine only in the poll that returns them, and
//!   a write queues bytes only in the poll that reports them written, so dropping a pending
//!   read or write future loses nothing. Dropping a pending `connect` abandons the connection.
//! - Backpressure: a write is `Pending` while the connection's send buffer is full, and is
//!   woken when acknowledgements free room.
//! - Errors are the blocking API's `io::Error` kinds: `ConnectionRefused`, `ConnectionReset`,
//!   `TimedOut`, `BrokenPipe` (writing after shutting down the write side), `NotConnected`
//!   (the socket was dropped).
//!
//! Dropping an [`AsyncUtpSocket`] behaves as dropping a [`UtpSocket`]: connections are closed,
//! their FINs get up to [`crate::stream::SHUTDOWN_GRACE`] to go out, and the driver thread is
//! joined, so the drop can block that long.
//!
//! With tokio, through tokio-util's `compat` adapters:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio_util::compat::FuturesAsyncReadCompatExt;
//! use utp::stream_async::AsyncUtpSocket;
//!
//! let server = AsyncUtpSocket::bind("127.0.0.1:0".parse().unwrap())?;
//! let client = AsyncUtpSocket::bind("127.0.0.1:0".parse().unwrap())?;
//! let (a, b) = tokio::join!(client.connect(server.local_addr()?), server.accept());
//! let (mut a, mut b) = (a?.compat(), b?.0.compat());
//! a.write_all(b"hello").await?;
//! a.shutdown().await?; // our FIN
//! let mut got = String::new();
//! b.read_to_string(&mut got).await?;
//! assert_eq!(got, "hello");
//! # Ok(())
//! # }
//! ```

use crate::proto::{ConnectionStats, StreamError};
use crate::runtime::wakers::Interest;
use crate::stream::{
    connect_outcome, not_connected, pump, stream_error, SocketOptions, UtpSocket, UtpStream,
};
use futures_io::{AsyncRead, AsyncWrite};
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A managed uTP socket driven by futures: one UDP socket, any number of connections.
#[derive(Debug)]
pub struct AsyncUtpSocket {
    socket: UtpSocket,
}

impl AsyncUtpSocket {
    /// Binds a UDP socket to `addr` and starts its driver thread. Returns at once.
    pub fn bind(addr: SocketAddr) -> io::Result<AsyncUtpSocket> {
        AsyncUtpSocket::bind_with(addr, SocketOptions::default())
    }

    /// [`AsyncUtpSocket::bind`] with options.
    pub fn bind_with(addr: SocketAddr, options: SocketOptions) -> io::Result<AsyncUtpSocket> {
        Ok(AsyncUtpSocket {
            socket: UtpSocket::bind_with(addr, options)?,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Connects to `addr`; completes when the handshake does, or fails (refused, or timed out
    /// after the SYN budget, about 31 s). Dropping the future abandons the connection.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<AsyncUtpStream> {
        let stream = self.socket.start_connect(addr)?;
        let (shared, h) = stream.parts();
        poll_fn(|cx| {
            let mut st = shared.state.lock();
            match connect_outcome(&st, h) {
                Some(result) => Poll::Ready(result),
                None => {
                    st.wakers.register(h, Interest::Connect, cx.waker());
                    Poll::Pending
                }
            }
        })
        .await?;
        Ok(AsyncUtpStream { stream })
    }

    /// Waits for an incoming connection. Dropping the future takes none from the queue.
    pub async fn accept(&self) -> io::Result<(AsyncUtpStream, SocketAddr)> {
        let shared = self.socket.shared();
        let (stream, addr) = poll_fn(|cx| {
            let mut st = shared.state.lock();
            match self.socket.try_accept(&mut st) {
                Some(result) => Poll::Ready(result),
                None => {
                    st.wakers.register_accept(cx.waker());
                    Poll::Pending
                }
            }
        })
        .await?;
        Ok((AsyncUtpStream { stream }, addr))
    }

    /// Connections currently held by the engine (including ones finishing their close).
    pub fn connection_count(&self) -> usize {
        self.socket.connection_count()
    }
}

/// A uTP connection implementing `futures_io::AsyncRead` and `AsyncWrite`. Dropping it closes
/// the connection gracefully (queued data, then our FIN).
#[derive(Debug)]
pub struct AsyncUtpStream {
    stream: UtpStream,
}

impl AsyncUtpStream {
    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The local socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// The connection's counters.
    pub fn stats(&self) -> io::Result<ConnectionStats> {
        self.stream.stats()
    }

    /// Shuts down reading, writing (our FIN after the data written), or both; does not wait.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.stream.shutdown(how)
    }

    /// Reads what the engine holds, or registers for `Readable` when it holds nothing.
    fn poll_read_inner(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let (shared, h) = self.stream.parts();
        let mut st = shared.state.lock();
        match st.endpoint.read(h, buf) {
            // Dropping the socket closed the connection: not a clean end of stream.
            Ok(0) if st.closing || st.stopped => Poll::Ready(Err(not_connected())),
            Ok(n) => {
                // The read may have opened the window: let the update out.
                pump(shared, &mut st);
                Poll::Ready(Ok(n))
            }
            Err(StreamError::WouldBlock) if st.stopped => Poll::Ready(Err(not_connected())),
            Err(StreamError::WouldBlock) => {
                st.wakers.register(h, Interest::Read, cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(stream_error(e, &st, h))),
        }
    }

    /// Shuts the write side and reports whether the peer acknowledged everything, registering
    /// for `Flushed` (woken as a writer) while it has not.
    fn poll_finish(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (shared, h) = self.stream.parts();
        let mut st = shared.state.lock();
        if let Err(e) = st.endpoint.shutdown(h) {
            return Poll::Ready(Err(stream_error(e, &st, h)));
        }
        pump(shared, &mut st);
        match st.endpoint.poll_flushed(h) {
            Ok(true) => Poll::Ready(Ok(())),
            Ok(false) if st.closing || st.stopped => Poll::Ready(Err(not_connected())),
            Ok(false) => {
                st.wakers.register(h, Interest::Write, cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(stream_error(e, &st, h))),
        }
    }

    /// Queues what fits in the send buffer, or registers for `Writable` when it is full.
    fn poll_write_inner(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let (shared, h) = self.stream.parts();
        let mut st = shared.state.lock();
        if st.closing || st.stopped {
            return Poll::Ready(Err(not_connected()));
        }
        match st.endpoint.write(h, buf) {
            Ok(n) => {
                pump(shared, &mut st);
                Poll::Ready(Ok(n))
            }
            Err(StreamError::WouldBlock) => {
                st.wakers.register(h, Interest::Write, cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(stream_error(e, &st, h))),
        }
    }
}

impl AsyncRead for &AsyncUtpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_inner(cx, buf)
    }
}

impl AsyncWrite for &AsyncUtpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_inner(cx, buf)
    }

    /// Written bytes are already the engine's to send: nothing to flush.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Finishes our direction: shuts the write side down (our FIN follows the data written)
    /// and completes once the peer has acknowledged every byte and the FIN, as
    /// [`crate::stream::UtpStream::finish`] does. Reading goes on.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_finish(cx)
    }
}

// The owned stream behaves exactly as a shared reference to it.
impl AsyncRead for AsyncUtpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }
}

impl AsyncWrite for AsyncUtpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_close(cx)
    }
}
