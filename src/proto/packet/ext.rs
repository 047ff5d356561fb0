//! The extension chain (BEP 29, "Extension"): extension type numbers and the set of extensions
//! we put on outgoing packets.
//!
//! After the fixed header comes a chain of extensions, each `[next type: u8, length: u8, body]`.
//! Byte 1 of the header names the first extension's type, each extension's first byte names the
//! type of the one after it, and type 0 ends the chain.

/// Extension type 0: end of the chain (BEP 29).
pub const EXT_NONE: u8 = 0;

/// Extension type 1: selective ACK bitmask (BEP 29). See [`super::SelectiveAck`].
pub const EXT_SELECTIVE_ACK: u8 = 1;

/// Extension type 2: "extension bits", 8 bytes that libutp sends in its SYN and otherwise
/// ignores. We skip it whatever its length.
pub const EXT_EXTENSION_BITS: u8 = 2;

/// Extension type 3: close reason (libtorrent's close-reason extension, `utp_close_reason` in
/// `utp_stream.hpp`).
pub const EXT_CLOSE_REASON: u8 = 3;

/// Body length of a close-reason extension: 2 reserved bytes (sent as zero, ignored on receipt)
/// then the reason as a big-endian `u16`, as libtorrent writes and reads it. A type-3 extension
/// of any other length is skipped, as libtorrent does.
pub const CLOSE_REASON_LEN: usize = 4;

/// Bytes of the `[next type, length]` prefix of every extension (BEP 29).
pub(super) const EXT_PREFIX_LEN: usize = 2;

/// The extensions to put on an outgoing packet. The chain is written selective ACK first, then
/// close reason (the order libtorrent uses); either may be absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extensions<'a> {
    /// A selective-ACK mask to send (built with [`super::sack_set_bit`]): 4 to 252 bytes, a
    /// multiple of 4.
    pub selective_ack: Option<&'a [u8]>,
    /// A close reason code to send (libtorrent's close-reason extension).
    pub close_reason: Option<u16>,
}

impl Extensions<'_> {
    /// The bytes the extension chain takes on the wire, 0 when there is none.
    pub fn encoded_len(&self) -> usize {
        let sack = self
            .selective_ack
            .map_or(0, |mask| EXT_PREFIX_LEN.saturating_add(mask.len()));
        let close = if self.close_reason.is_some() {
            EXT_PREFIX_LEN + CLOSE_REASON_LEN
        } else {
            0
        };
        sack.saturating_add(close)
    }
}
