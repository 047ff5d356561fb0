//! The fixed 20-byte uTP header (BEP 29, "Header format").
//!
//! All fields are big-endian:
//!
//! ```text
//! offset  size  field
//!      0     1  type (high nibble) | version (low nibble)
//!      1     1  type of the first extension, 0 for none
//!      2     2  connection_id
//!      4     4  timestamp_microseconds
//!      8     4  timestamp_difference_microseconds
//!     12     4  wnd_size
//!     16     2  seq_nr
//!     18     2  ack_nr
//! ```

use super::error::DecodeError;
use crate::proto::seq::SeqNr;
use crate::proto::time::WireTime;

/// Size of the fixed header in bytes (BEP 29).
pub const HEADER_LEN: usize = 20;

/// The only protocol version there is, carried in the low nibble of byte 0 (BEP 29).
pub const VERSION: u8 = 1;

/// The five packet types of BEP 29, as carried in the high nibble of byte 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `ST_DATA`: carries payload and consumes a sequence number.
    Data = 0,
    /// `ST_FIN`: the sender's last sequence number; consumes one.
    Fin = 1,
    /// `ST_STATE`: a bare acknowledgement; does not consume a sequence number.
    State = 2,
    /// `ST_RESET`: terminates the connection forcefully.
    Reset = 3,
    /// `ST_SYN`: opens a connection; consumes a sequence number.
    Syn = 4,
}

impl PacketType {
    /// The packet type with wire value `v`, or `None` when `v` is not one of the five.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(PacketType::Data),
            1 => Some(PacketType::Fin),
            2 => Some(PacketType::State),
            3 => Some(PacketType::Reset),
            4 => Some(PacketType::Syn),
            _ => None,
        }
    }

    /// The wire value of this type.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

/// The decoded fixed header of a uTP packet. The extension chain is handled separately, so the
/// "first extension" byte does not appear here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// What kind of packet this is.
    pub packet_type: PacketType,
    /// The connection id: the receiver's id, except in a SYN, which carries the sender's receive
    /// id (BEP 29).
    pub connection_id: u16,
    /// The sender's clock (low 32 bits, microseconds) when the packet was sent.
    pub timestamp: WireTime,
    /// The sender's latest one-way delay sample of the reverse direction, in microseconds
    /// (0 when it has none yet).
    pub timestamp_diff: u32,
    /// The sender's advertised receive window, in bytes.
    pub window: u32,
    /// The packet's sequence number.
    pub seq_nr: SeqNr,
    /// The last sequence number the sender received in order.
    pub ack_nr: SeqNr,
}

impl Header {
    /// Parses only the fixed header at the start of `buf`, ignoring what follows (an ICMP
    /// message quotes just the start of a datagram, possibly cutting its extension chain).
    pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
        Self::read(buf).map(|(header, _)| header)
    }

    /// Parses the fixed header at the start of `buf`, returning it together with the type of the
    /// first extension (byte 1). Checks the length, version and type; nothing else.
    pub(super) fn read(buf: &[u8]) -> Result<(Header, u8), DecodeError> {
        let b: &[u8; HEADER_LEN] = buf
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(DecodeError::TooShort)?;
        let version = b[0] & 0x0F;
        if version != VERSION {
            return Err(DecodeError::BadVersion(version));
        }
        let type_nibble = b[0] >> 4;
        let packet_type =
            PacketType::from_u8(type_nibble).ok_or(DecodeError::BadType(type_nibble))?;
        let header = Header {
            packet_type,
            connection_id: u16::from_be_bytes([b[2], b[3]]),
            timestamp: WireTime(u32::from_be_bytes([b[4], b[5], b[6], b[7]])),
            timestamp_diff: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            window: u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
            seq_nr: SeqNr(u16::from_be_bytes([b[16], b[17]])),
            ack_nr: SeqNr(u16::from_be_bytes([b[18], b[19]])),
        };
        Ok((header, b[1]))
    }

    /// The 20 wire bytes of this header, naming `first_extension` as the head of the chain.
    pub(super) fn to_bytes(self, first_extension: u8) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = (self.packet_type.as_u8() << 4) | VERSION;
        b[1] = first_extension;
        b[2..4].copy_from_slice(&self.connection_id.to_be_bytes());
        b[4..8].copy_from_slice(&self.timestamp.0.to_be_bytes());
        b[8..12].copy_from_slice(&self.timestamp_diff.to_be_bytes());
        b[12..16].copy_from_slice(&self.window.to_be_bytes());
        b[16..18].copy_from_slice(&self.seq_nr.0.to_be_bytes());
        b[18..20].copy_from_slice(&self.ack_nr.0.to_be_bytes());
        b
    }
}
