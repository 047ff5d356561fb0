//! Errors of the packet codec: why a datagram was rejected, or why a packet could not be written.

use core::fmt;

/// Why a datagram could not be decoded as a uTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the 20-byte header.
    TooShort,
    /// The version nibble (low nibble of byte 0) is not 1; carries the nibble.
    BadVersion(u8),
    /// The type nibble (high nibble of byte 0) names no packet type; carries the nibble.
    BadType(u8),
    /// An extension's two-byte header or its body runs past the end of the datagram.
    TruncatedExtension,
    /// A selective-ACK extension (or mask) whose length is 0 or not a multiple of 4; carries the
    /// length, saturated at 255 for masks handed to [`super::SelectiveAck::new`].
    BadSelectiveAckLength(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort => f.write_str("datagram shorter than a uTP header"),
            DecodeError::BadVersion(v) => write!(f, "unsupported uTP version {v}"),
            DecodeError::BadType(t) => write!(f, "unknown uTP packet type {t}"),
            DecodeError::TruncatedExtension => f.write_str("uTP extension runs past the datagram"),
            DecodeError::BadSelectiveAckLength(n) => {
                write!(
                    f,
                    "selective ACK of {n} bytes (must be a non-zero multiple of 4)"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a packet could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer cannot hold the header, extensions and payload.
    BufferTooSmall,
    /// The selective-ACK mask is empty, not a multiple of 4 bytes, or longer than 255 bytes.
    BadSelectiveAck,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::BufferTooSmall => "buffer too small for the uTP packet",
            EncodeError::BadSelectiveAck => {
                "selective ACK mask must be 4 to 252 bytes in steps of 4"
            }
        })
    }
}

impl std::error::Error for EncodeError {}
