//! Reliability: round-trip time and retransmission timeout (RFC 6298), the send queue with
//! loss detection, the receive and reorder buffer, unsent data, and the packet buffer pool.

pub mod pool;
pub mod recv_buffer;
pub mod rtt;
pub mod send_queue;
pub mod unsent;
