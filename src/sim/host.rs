//! A host carrying a uTP endpoint and a NewReno flow behind one address, so that both flows
//! travel the same simulated link and meet in the same bottleneck queue.
//!
//! The simulator keeps one link per (from, to) address pair, so flows between the same two
//! addresses share every impairment of that direction, its bottleneck included, with no change
//! to the simulator. Incoming datagrams are routed by their first byte: the NewReno model's
//! [`wire::TAG`] can never begin a uTP datagram.

use super::app::EndpointNode;
use super::newreno::{wire, RenoNode};
use super::node::Node;
use crate::proto::endpoint::Transmit;
use crate::proto::time::Instant;
use std::net::SocketAddr;

/// A uTP endpoint, a NewReno end, or both, at one address.
pub struct Host {
    /// The uTP endpoint with its scripted application.
    pub utp: Option<EndpointNode>,
    /// One end of a NewReno flow.
    pub reno: Option<RenoNode>,
}

impl Host {
    /// A host with only a uTP endpoint.
    pub fn utp(node: EndpointNode) -> Self {
        Host {
            utp: Some(node),
            reno: None,
        }
    }

    /// A host with only a NewReno end.
    pub fn reno(node: RenoNode) -> Self {
        Host {
            utp: None,
            reno: Some(node),
        }
    }

    /// The uTP endpoint.
    ///
    /// # Panics
    /// When the host has none.
    pub fn endpoint(&self) -> &EndpointNode {
        self.utp.as_ref().expect("host without a uTP endpoint")
    }

    /// The uTP endpoint, mutably.
    ///
    /// # Panics
    /// When the host has none.
    pub fn endpoint_mut(&mut self) -> &mut EndpointNode {
        self.utp.as_mut().expect("host without a uTP endpoint")
    }

    /// The NewReno end.
    ///
    /// # Panics
    /// When the host has none.
    pub fn newreno(&self) -> &RenoNode {
        self.reno.as_ref().expect("host without a NewReno flow")
    }
}

impl Node for Host {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if wire::is_newreno(data) {
            if let Some(reno) = &mut self.reno {
                reno.handle_datagram(now, from, data);
            }
        } else if let Some(utp) = &mut self.utp {
            utp.handle_datagram(now, from, data);
        }
    }

    /// Each part whose own deadline has come gets the timeout.
    fn handle_timeout(&mut self, now: Instant) {
        if let Some(utp) = &mut self.utp {
            if utp.poll_timeout().is_some_and(|at| at <= now) {
                utp.handle_timeout(now);
            }
        }
        if let Some(reno) = &mut self.reno {
            if reno.poll_timeout().is_some_and(|at| at <= now) {
                reno.handle_timeout(now);
            }
        }
    }

    /// The uTP endpoint's datagrams first, then NewReno's.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(t) = self.utp.as_mut().and_then(|u| u.poll_transmit(now, buf)) {
            return Some(t);
        }
        self.reno.as_mut().and_then(|r| r.poll_transmit(now, buf))
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let utp = self.utp.as_mut().and_then(|u| u.poll_timeout());
        let reno = self.reno.as_mut().and_then(|r| r.poll_timeout());
        match (utp, reno) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
