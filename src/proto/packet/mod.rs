//! The uTP packet codec (BEP 29, "Header format" and "Extension"): the fixed 20-byte header, the
//! extension chain that follows it, and the payload after that.
//!
//! Decoding borrows from the datagram and never allocates or panics, whatever the bytes are.
//! Encoding writes into a caller-supplied buffer and never allocates.
//!
//! Layout of the module:
//! * [`Header`] and [`PacketType`]: the fixed header;
//! * [`SelectiveAck`] and the `sack_*` helpers: the selective-ACK bitmask (extension 1);
//! * [`Extensions`]: the extension chain as we send it (selective ACK, close reason);
//! * [`Packet::decode`] / [`looks_like_utp`]: the receive side;
//! * [`encode_prefix`] / [`encode()`]: the send side.

mod decode;
mod encode;
mod error;
mod ext;
mod header;
mod padding;
mod sack;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use decode::{looks_like_utp, Packet};
pub use encode::{encode, encode_prefix};
pub use error::{DecodeError, EncodeError};
pub use ext::{
    Extensions, CLOSE_REASON_LEN, EXT_CLOSE_REASON, EXT_EXTENSION_BITS, EXT_NONE, EXT_SELECTIVE_ACK,
};
pub use header::{Header, PacketType, HEADER_LEN, VERSION};
pub use padding::{encode_padded, EXT_PADDING, MIN_PADDED_LEN};
pub use sack::{sack_mask_len, sack_set_bit, SelectiveAck};
