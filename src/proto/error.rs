//! Errors the engine reports. Each operation has its own error type; the C layer maps them to
//! libutp's codes and the Rust stream API to `std::io::ErrorKind`.

use core::fmt;

/// Why a connection ended abnormally. Reported once per connection through
/// [`crate::proto::Event::Error`], and afterwards by every read or write on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionError {
    /// The peer answered our SYN with a RESET (or an ICMP unreachable arrived while connecting).
    Refused,
    /// The peer reset an established connection.
    Reset,
    /// The retransmission budget ran out (connect or data), the peer went silent, or it kept
    /// its receive window closed too long.
    TimedOut,
    /// An accepted connection whose handshake had not completed (nothing heard from the peer
    /// but its SYN) was dropped to make room for newer connection requests: the endpoint held
    /// [`crate::proto::Config::max_half_open`] of them (a SYN flood, or peers that vanished).
    Evicted,
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectionError::Refused => "connection refused",
            ConnectionError::Reset => "connection reset by peer",
            ConnectionError::TimedOut => "connection timed out",
            ConnectionError::Evicted => {
                "connection dropped before its handshake completed (too many half-open)"
            }
        })
    }
}

impl std::error::Error for ConnectionError {}

/// Why [`crate::proto::Endpoint::connect`] could not start a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectError {
    /// The endpoint already holds its configured maximum of connections.
    TooManyConnections,
    /// No free connection id is left for this peer address.
    NoConnectionIds,
    /// The address is unusable (port 0, or the unspecified address).
    InvalidAddress,
    /// The per-connection options are unusable (a zero buffer, an MTU out of range).
    InvalidOptions,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectError::TooManyConnections => "too many connections",
            ConnectError::NoConnectionIds => "no free connection id for this peer",
            ConnectError::InvalidAddress => "invalid remote address",
            ConnectError::InvalidOptions => "invalid connection options",
        })
    }
}

impl std::error::Error for ConnectError {}

/// Why a read, write, shutdown or close on a connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamError {
    /// The handle does not name a live connection (never existed, or already closed and freed).
    UnknownConnection,
    /// Nothing can be done now; try again after the next `Readable`/`Writable` event.
    WouldBlock,
    /// The write side was shut down (by us) already.
    WriteClosed,
    /// The connection failed.
    Connection(ConnectionError),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::UnknownConnection => f.write_str("unknown connection"),
            StreamError::WouldBlock => f.write_str("operation would block"),
            StreamError::WriteClosed => f.write_str("write side already shut down"),
            StreamError::Connection(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for StreamError {}

impl From<ConnectionError> for StreamError {
    fn from(e: ConnectionError) -> Self {
        StreamError::Connection(e)
    }
}
