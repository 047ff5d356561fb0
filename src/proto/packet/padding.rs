//! Padding for path-MTU probes: a header followed by a chain of extensions nobody interprets, so
//! that a probe reaches a chosen size without carrying stream data.
//!
//! A probe carries no payload, so when it is lost (the point of a probe that is too big) it is
//! resent as a plain empty data packet, which any path carries; a probe carrying data would have
//! to be resent at its too-big size, which a path that drops fragments never delivers. Each
//! extension holds at most 255 body bytes, so a probe carries a chain of them.
//!
//! The padding extensions are of type 2, BEP 29's "extension bits", which every implementation
//! accepts and none interprets beyond the SYN: libutp rejects a packet whose *first* extension
//! type is 3 or more (its version check in `utp_process_udp`, seen in the interop suite: every
//! probe padded with an unknown type was dropped), and walks the rest of the chain skipping
//! every type but the selective ACK; libtorrent's `utp_stream` skips every type it does not
//! know; our decoder skips type 2 whatever its length.

use super::error::EncodeError;
use super::ext::{EXT_EXTENSION_BITS, EXT_NONE, EXT_PREFIX_LEN};
use super::header::{Header, HEADER_LEN};

/// Extension type of probe padding: 2, "extension bits" (see the module documentation).
pub const EXT_PADDING: u8 = EXT_EXTENSION_BITS;

/// Largest body of one extension (its length is one byte).
const MAX_BODY: usize = u8::MAX as usize;

/// Writes `header` followed by padding extensions so that the result is exactly `len` bytes,
/// and returns `len`. The packet has no payload. Fails when `len` is shorter than a header plus
/// one empty extension or longer than `out`.
pub fn encode_padded(header: &Header, len: usize, out: &mut [u8]) -> Result<usize, EncodeError> {
    if len < HEADER_LEN + EXT_PREFIX_LEN {
        return Err(EncodeError::BufferTooSmall);
    }
    let out = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
    let (head, mut chain) = out.split_at_mut(HEADER_LEN);
    head.copy_from_slice(&header.to_bytes(EXT_PADDING));
    while !chain.is_empty() {
        let left = chain.len() - EXT_PREFIX_LEN;
        let mut body = left.min(MAX_BODY);
        // Never leave a single byte behind: it cannot hold an extension prefix.
        if left - body == 1 {
            body -= 1;
        }
        let rest_after = left - body;
        let next = if rest_after == 0 {
            EXT_NONE
        } else {
            EXT_PADDING
        };
        let (ext, rest) = chain.split_at_mut(EXT_PREFIX_LEN + body);
        ext[0] = next;
        ext[1] = body as u8;
        ext[EXT_PREFIX_LEN..].fill(0);
        chain = rest;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::packet::{Packet, PacketType};
    use crate::proto::seq::SeqNr;
    use crate::proto::time::WireTime;

    fn header() -> Header {
        Header {
            packet_type: PacketType::Data,
            connection_id: 7,
            timestamp: WireTime(1),
            timestamp_diff: 2,
            window: 3,
            seq_nr: SeqNr(4),
            ack_nr: SeqNr(5),
        }
    }

    #[test]
    fn every_length_decodes_as_an_empty_data_packet() {
        let mut buf = vec![0xAA; 2000];
        for len in 22..2000 {
            assert_eq!(encode_padded(&header(), len, &mut buf), Ok(len));
            let p = Packet::decode(&buf[..len]).unwrap_or_else(|e| panic!("{len}: {e}"));
            assert_eq!(p.header, header());
            assert!(p.payload.is_empty(), "{len}: payload {}", p.payload.len());
            assert!(p.selective_ack.is_none() && p.close_reason.is_none());
        }
    }

    #[test]
    fn too_short_or_too_long_is_refused() {
        let mut buf = [0; 100];
        assert_eq!(
            encode_padded(&header(), 21, &mut buf),
            Err(EncodeError::BufferTooSmall)
        );
        assert_eq!(
            encode_padded(&header(), 101, &mut buf),
            Err(EncodeError::BufferTooSmall)
        );
    }
}
