//! The receive side of the codec (BEP 29, "Header format" and "Extension"): turning a datagram
//! into a [`Packet`] that borrows from it.
//!
//! Rules, beyond BEP 29's layout:
//! * A selective ACK must be a non-zero multiple of 4 bytes long; any such length is accepted.
//!   When several appear, the first wins. Every one is length-checked.
//! * A close reason is read from a 4-byte type-3 extension; other lengths are skipped, as
//!   libtorrent does. When several appear, the first wins.
//! * Extension type 2 and unknown types are skipped by their length.
//! * The payload is everything after the chain, for any packet type; what a type may carry is
//!   for the connection to decide.
//!
//! Decoding walks the datagram by slice splitting, so it needs no index arithmetic, cannot
//! overflow, and never panics or allocates.

use super::error::DecodeError;
use super::ext::{CLOSE_REASON_LEN, EXT_CLOSE_REASON, EXT_NONE, EXT_SELECTIVE_ACK};
use super::header::{Header, PacketType, HEADER_LEN, VERSION};
use super::sack::SelectiveAck;

/// A decoded uTP packet, borrowing its extension bodies and payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The fixed header.
    pub header: Header,
    /// The first selective-ACK extension, if any.
    pub selective_ack: Option<SelectiveAck<'a>>,
    /// The reason code of the first well-formed close-reason extension, if any.
    pub close_reason: Option<u16>,
    /// Everything after the extension chain.
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Decodes a datagram. Fails on a datagram shorter than the header, a version other than 1,
    /// an unknown type, an extension that runs past the end, or a malformed selective ACK.
    pub fn decode(buf: &'a [u8]) -> Result<Packet<'a>, DecodeError> {
        let (header, mut ext_type) = Header::read(buf)?;
        let mut rest = buf.get(HEADER_LEN..).ok_or(DecodeError::TooShort)?;
        let mut selective_ack = None;
        let mut close_reason = None;

        // Each step consumes at least two bytes of `rest`, so the walk ends.
        while ext_type != EXT_NONE {
            let [next, len, tail @ ..] = rest else {
                return Err(DecodeError::TruncatedExtension);
            };
            let len = *len;
            if tail.len() < usize::from(len) {
                return Err(DecodeError::TruncatedExtension);
            }
            let (body, after) = tail.split_at(usize::from(len));
            match ext_type {
                EXT_SELECTIVE_ACK => {
                    let sack = SelectiveAck::new(body)?;
                    selective_ack.get_or_insert(sack);
                }
                EXT_CLOSE_REASON => {
                    if let Some(reason) = parse_close_reason(body) {
                        close_reason.get_or_insert(reason);
                    }
                }
                // Extension bits (type 2) and unknown types: skipped.
                _ => {}
            }
            ext_type = *next;
            rest = after;
        }

        Ok(Packet {
            header,
            selective_ack,
            close_reason,
            payload: rest,
        })
    }
}

/// The reason code of a close-reason body: two reserved bytes, then a big-endian `u16`
/// (libtorrent's layout). `None` for a body of any other length.
fn parse_close_reason(body: &[u8]) -> Option<u16> {
    let body: &[u8; CLOSE_REASON_LEN] = body.try_into().ok()?;
    Some(u16::from_be_bytes([body[2], body[3]]))
}

/// A cheap test of whether a datagram is uTP at all, the question libutp's `utp_process_udp`
/// answers with 1 or 0: at least 20 bytes, version nibble 1 and a type nibble of at most 4.
/// Nothing past byte 0 is inspected, so a datagram may pass this and still fail
/// [`Packet::decode`].
pub fn looks_like_utp(buf: &[u8]) -> bool {
    match buf.first() {
        Some(&b0) if buf.len() >= HEADER_LEN => {
            b0 & 0x0F == VERSION && PacketType::from_u8(b0 >> 4).is_some()
        }
        _ => false,
    }
}
