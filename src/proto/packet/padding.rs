//! Padding for path-MTU probes: a header followed by a chain of extensions nobody interprets, so
//! that a probe reaches a chosen size without carrying stream data.
//!
//! A probe carries no payload, so when it is lost (the point of a probe that is too big) it is
//! resent as a plain empty data packet, which any path carries; a probe carrying data would have
//! to be resent at its too-big size, which a path that drops fragments never delivers. Each
//! extension holds at most 255 body bytes, so a probe carries a chain of them.
//!
//! The chain has to pass the peers' checks. libutp (`utp_internal.cpp`) drops a packet whose
//! *first* extension type is 3 or more (its version check, `UTP_Version`) and one carrying an
//! "extension bits" extension (type 2) whose length is not exactly 8; it skips every other type
//! while walking the chain, as libtorrent's `utp_stream` and our decoder do. So the chain
//! starts with one 8-byte type-2 extension of zeros (what a SYN without extension bits would
//! carry) and continues with [`EXT_PADDING`] extensions of up to 255 bytes. Both rules were
//! found by the interop suite: probes padded otherwise were never acknowledged by libutp, and
//! the path MTU towards it stayed at the 1232-byte floor.

use super::error::EncodeError;
use super::ext::{EXT_EXTENSION_BITS, EXT_NONE, EXT_PREFIX_LEN};
use super::header::{Header, HEADER_LEN};

/// Extension type of the padding after the first extension: one that no implementation we know
/// assigns a meaning (BEP 29 defines 1 and 2; libtorrent uses 3 for its close reason).
pub const EXT_PADDING: u8 = 0xFE;

/// Length of the "extension bits" body, the only one libutp accepts.
const EXTENSION_BITS_LEN: usize = 8;

/// Largest body of one extension (its length is one byte).
const MAX_BODY: usize = u8::MAX as usize;

/// Shortest padded packet: a header and the leading extension-bits extension.
pub const MIN_PADDED_LEN: usize = HEADER_LEN + EXT_PREFIX_LEN + EXTENSION_BITS_LEN;

/// Writes `header` followed by padding extensions so that the result is exactly `len` bytes,
/// and returns `len`. The packet has no payload. Fails when `len` is shorter than
/// [`MIN_PADDED_LEN`], is `MIN_PADDED_LEN + 1` (one byte cannot hold an extension), or is longer
/// than `out`.
pub fn encode_padded(header: &Header, len: usize, out: &mut [u8]) -> Result<usize, EncodeError> {
    if len < MIN_PADDED_LEN || len == MIN_PADDED_LEN + 1 {
        return Err(EncodeError::BufferTooSmall);
    }
    let out = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
    let (head, rest) = out.split_at_mut(HEADER_LEN);
    head.copy_from_slice(&header.to_bytes(EXT_EXTENSION_BITS));
    let (bits, mut chain) = rest.split_at_mut(EXT_PREFIX_LEN + EXTENSION_BITS_LEN);
    bits[0] = if chain.is_empty() {
        EXT_NONE
    } else {
        EXT_PADDING
    };
    bits[1] = EXTENSION_BITS_LEN as u8;
    bits[EXT_PREFIX_LEN..].fill(0);
    while !chain.is_empty() {
        let left = chain.len() - EXT_PREFIX_LEN;
        let mut body = left.min(MAX_BODY);
        // Never leave a single byte behind: it cannot hold an extension prefix.
        if left - body == 1 {
            body -= 1;
        }
        let next = if left == body { EXT_NONE } else { EXT_PADDING };
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

    /// libutp's checks of a packet's extensions (`UTP_Version` and the extension loop of
    /// `utp_process_incoming`): the first type below 3, every type-2 body exactly 8 bytes, no
    /// selective ACK (a probe must not acknowledge anything), every length within the packet.
    fn libutp_accepts(packet: &[u8]) -> bool {
        let mut ext = packet[1];
        if ext >= 3 {
            return false;
        }
        let mut at = HEADER_LEN;
        while ext != EXT_NONE {
            let Some(&[next, len]) = packet
                .get(at..at + 2)
                .map(|p| <&[u8; 2]>::try_from(p).unwrap())
            else {
                return false;
            };
            let len = usize::from(len);
            if packet.len() < at + 2 + len || ext == 1 || (ext == 2 && len != 8) {
                return false;
            }
            at += 2 + len;
            ext = next;
        }
        at == packet.len()
    }

    #[test]
    fn every_length_decodes_as_an_empty_data_packet_that_libutp_accepts() {
        let mut buf = vec![0xAA; 2000];
        for len in (MIN_PADDED_LEN..2000).filter(|&l| l != MIN_PADDED_LEN + 1) {
            assert_eq!(encode_padded(&header(), len, &mut buf), Ok(len));
            assert!(libutp_accepts(&buf[..len]), "{len}: {:?}", &buf[..40]);
            let p = Packet::decode(&buf[..len]).unwrap_or_else(|e| panic!("{len}: {e}"));
            assert_eq!(p.header, header());
            assert!(p.payload.is_empty(), "{len}: payload {}", p.payload.len());
            assert!(p.selective_ack.is_none() && p.close_reason.is_none());
        }
    }

    #[test]
    fn too_short_or_too_long_is_refused() {
        let mut buf = [0; 100];
        for len in [21, MIN_PADDED_LEN - 1, MIN_PADDED_LEN + 1] {
            assert_eq!(
                encode_padded(&header(), len, &mut buf),
                Err(EncodeError::BufferTooSmall),
                "{len}"
            );
        }
        assert_eq!(
            encode_padded(&header(), 101, &mut buf),
            Err(EncodeError::BufferTooSmall)
        );
    }
}
