//! What the engine tells the application about a connection.

use crate::proto::error::ConnectionError;

/// A change in a connection's state, polled with [`crate::proto::Endpoint::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The handshake completed: for an outgoing connection the SYN-ACK arrived; for an accepted
    /// one this comes right after [`crate::proto::Endpoint::accept`]. Writing is possible.
    Connected,
    /// New in-order data can be read. Reported again only after a read has happened.
    Readable,
    /// A write that was cut short can now make progress.
    Writable,
    /// The peer finished sending: every byte before its FIN is readable, and reads return 0
    /// once it has been read.
    Eof,
    /// The connection failed; reported once.
    Error(ConnectionError),
    /// The peer acknowledged every byte written (and our FIN, after a write shutdown). Reported
    /// once per [`crate::proto::Endpoint::poll_flushed`] that found data still unacknowledged.
    Flushed,
    /// An accepted connection is confirmed: the peer acknowledged our SYN-ACK, which the sender
    /// of a spoofed SYN never sees, or [`crate::proto::Config::confirm_timeout`] passed without
    /// the connection being evicted (an initiator that sends nothing after the handshake, as
    /// libutp's, is confirmed then). Listeners hand out only confirmed connections, so a SYN
    /// flood's connections never reach the application. Reported once, for accepted
    /// connections only.
    Confirmed,
    /// The connection is gone for the application: its handle is invalid from now on. Always the
    /// last event of a connection.
    Closed,
}
