//! Counters kept per connection and per endpoint.

use core::time::Duration;

/// Per-connection counters and current estimates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Payload bytes received in order and handed to the reader's buffer.
    pub bytes_received: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Stream bytes the application wrote (accepted by `write`).
    pub bytes_written: u64,
    /// Stream bytes the peer acknowledged cumulatively: the prefix of what was written that the
    /// peer confirmed it holds in order. Kept after the connection fails (reset, timeout), so
    /// `bytes_written - bytes_acked` is what may not have arrived.
    pub bytes_acked: u64,
    /// Datagrams received for this connection.
    pub packets_received: u64,
    /// Datagrams sent for this connection.
    pub packets_sent: u64,
    /// Packets retransmitted for any reason.
    pub retransmits: u64,
    /// Of those, resent because selective or duplicate ACKs showed them lost (not after a
    /// timeout); always at most `retransmits`.
    pub fast_retransmits: u64,
    /// Retransmissions found unnecessary afterwards (acknowledged sooner than a round trip).
    pub spurious_retransmits: u64,
    /// Retransmission timeouts that fired.
    pub timeouts: u64,
    /// Data packets received that we already had.
    pub duplicates_received: u64,
    /// Delay samples fed to the congestion controller.
    pub delay_samples: u64,
    /// Current congestion window in bytes.
    pub cwnd: u64,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Current retransmission timeout.
    pub rto: Duration,
    /// Current queuing delay estimate of our direction.
    pub queuing_delay: Duration,
    /// Current largest datagram size in use (the UDP payload: uTP header included, IP and UDP
    /// headers not), as path-MTU discovery has found it.
    pub mtu: u32,
    /// Current size of the send buffer in bytes (it follows the congestion window).
    pub send_buffer: u64,
    /// Current size of the receive buffer in bytes (it follows what the peer delivers per
    /// round trip).
    pub recv_buffer: u64,
    /// Path-MTU probes sent.
    pub pmtu_probes: u64,
    /// Path-MTU probes lost (too big for the path, or lost by chance).
    pub pmtu_probes_lost: u64,
    /// Times full-size packets vanished and the packet size fell back to the floor.
    pub pmtu_black_holes: u64,
    /// The path-MTU search has not converged (it probes only while data waits to be sent, so
    /// a connection that only receives stays here); false with discovery off.
    pub pmtu_searching: bool,
    /// The reason code the peer gave for closing (libtorrent's close-reason extension, sent
    /// with its FIN or RESET), if it sent one.
    pub peer_close_reason: Option<u16>,
    /// RESETs for this connection ignored because their `ack_nr` named no sequence number we
    /// sent recently (forged or stale).
    pub resets_ignored: u64,
    /// Packets dropped because they acknowledged (cumulatively or selectively) data never
    /// sent.
    pub implausible_acks: u64,
}

/// Per-endpoint counters. The size buckets are libutp's (`utp_context_stats`): datagram lengths
/// up to 23, 373, 723 and 1400 bytes, and above.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Received uTP datagrams that reached a connection, by size bucket.
    pub received_by_size: [u32; 5],
    /// Sent datagrams (RESETs included), by size bucket.
    pub sent_by_size: [u32; 5],
    /// Datagrams that failed to decode.
    pub malformed: u64,
    /// RESETs sent for unknown connections.
    pub resets_sent: u64,
    /// RESETs we wanted to send but the rate limit withheld.
    pub resets_suppressed: u64,
    /// SYNs dropped because their peer address already holds
    /// [`crate::proto::Config::max_connections_per_ip`] connections.
    pub refused_per_peer: u64,
    /// SYNs dropped because the endpoint holds [`crate::proto::Config::max_connections`].
    pub refused_full: u64,
    /// Half-open connections evicted to make room for a new SYN
    /// ([`crate::proto::Config::max_half_open`]).
    pub half_open_evicted: u64,
    /// RESETs that named one of our connections but acknowledged a sequence number it never
    /// sent (recently): forged or stale, ignored.
    pub resets_ignored: u64,
    /// Packets dropped because they acknowledged (cumulatively or selectively) data we never
    /// sent: forged, or an optimistic-ACK attack.
    pub implausible_acks: u64,
}

/// libutp's context-statistics bucket for a datagram of `len` bytes.
pub fn size_bucket(len: usize) -> usize {
    match len {
        0..=23 => 0,
        24..=373 => 1,
        374..=723 => 2,
        724..=1400 => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_libutp_limits() {
        assert_eq!(size_bucket(20), 0);
        assert_eq!(size_bucket(23), 0);
        assert_eq!(size_bucket(24), 1);
        assert_eq!(size_bucket(373), 1);
        assert_eq!(size_bucket(723), 2);
        assert_eq!(size_bucket(1400), 3);
        assert_eq!(size_bucket(1402), 4);
    }
}
