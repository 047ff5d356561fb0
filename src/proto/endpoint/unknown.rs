//! Datagrams that match no connection (BEP 29; as libutp's `utp_process_udp`): a SYN becomes
//! an [`Incoming`] if admission allows, a RESET is ignored (never answer a RESET with a RESET),
//! anything else is answered with a RESET, at most [`crate::proto::Config::reset_burst`] at once and
//! [`crate::proto::Config::reset_rate`] per second (a token bucket), so a flood of stray packets is not
//! reflected at its own rate. Every step is O(1).

use super::admission::Refusal;
use super::{ConnectionHandle, DatagramEvent, Endpoint, Incoming};
use crate::proto::packet::{Header, PacketType};
use crate::proto::seq::SeqNr;
use crate::proto::time::Instant;
use core::net::SocketAddr;

impl Endpoint {
    /// A RESET echoes the connection id of the packet it answers: our send id, or (for a SYN)
    /// our receive id. Like libutp, try the id and its neighbours, but only accept a match
    /// whose own ids explain the RESET.
    pub(super) fn find_reset_target(&self, from: SocketAddr, id: u16) -> Option<ConnectionHandle> {
        [id, id.wrapping_sub(1), id.wrapping_add(1)]
            .into_iter()
            .find_map(|key| {
                let handle = *self.by_key.get(&(from, key))?;
                let conn = self.connections.get(&handle)?;
                (conn.send_id() == id || conn.recv_id() == id).then_some(handle)
            })
    }

    pub(super) fn unknown_connection(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: Header,
        len: usize,
    ) -> DatagramEvent {
        match header.packet_type {
            PacketType::Syn => {
                match self
                    .admission
                    .check(&self.config, from, self.connections.len())
                {
                    Ok(()) => {}
                    Err(Refusal::PerPeer) => {
                        log::debug!("SYN from {from} dropped: per-address connection limit");
                        self.stats.refused_per_peer += 1;
                        return DatagramEvent::Handled;
                    }
                    Err(Refusal::Full) => {
                        log::debug!("SYN from {from} dropped: connection limit reached");
                        self.stats.refused_full += 1;
                        return DatagramEvent::Handled;
                    }
                }
                DatagramEvent::Incoming(Incoming {
                    remote: from,
                    syn: header,
                    len,
                })
            }
            // A RESET for nothing is ignored (never answer a RESET with a RESET).
            PacketType::Reset => DatagramEvent::Handled,
            _ => {
                self.queue_reset(now, from, &header);
                DatagramEvent::Handled
            }
        }
    }

    /// Queues a RESET answering `header` (BEP 29, as libutp: the received connection id,
    /// ack_nr = the received seq_nr, window 0), subject to the rate limit.
    pub(super) fn queue_reset(&mut self, now: Instant, to: SocketAddr, header: &Header) {
        let elapsed = now.saturating_duration_since(self.reset_refill_at);
        let rate = u128::from(self.config.reset_rate);
        let refill = (elapsed.as_micros() * rate / 1_000_000) as u64;
        if refill > 0 {
            let tokens = u64::from(self.reset_tokens) + refill;
            let burst = u64::from(self.config.reset_burst);
            if tokens >= burst {
                self.reset_tokens = self.config.reset_burst;
                self.reset_refill_at = now;
            } else {
                // Keep the fraction of a token earned since the last whole one: refilling from
                // `now` would lose it, and a steady stream of stray packets would get RESETs
                // at well under `reset_rate` (7 ms apart at 100/s: one per 14 ms).
                self.reset_tokens = tokens as u32;
                let used = u128::from(refill) * 1_000_000 / rate;
                self.reset_refill_at += core::time::Duration::from_micros(used as u64);
            }
        }
        if self.reset_tokens == 0 {
            self.stats.resets_suppressed += 1;
            return;
        }
        self.reset_tokens -= 1;
        self.stats.resets_sent += 1;
        let reset = Header {
            packet_type: PacketType::Reset,
            connection_id: header.connection_id,
            timestamp: now.wire(),
            timestamp_diff: 0,
            window: 0,
            seq_nr: SeqNr(self.rng.next_u16()),
            ack_nr: header.seq_nr,
        };
        self.resets.push_back((to, reset));
    }
}
