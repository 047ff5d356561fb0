//! The selective-ACK bitmask (BEP 29, extension type 1).
//!
//! The mask acknowledges packets received out of order past `ack_nr`. Bit `i` stands for packet
//! `ack_nr + 2 + i`; `ack_nr + 1` is not in the mask, since it is by definition missing. Bits run
//! least significant first within a byte, and byte `k` holds bits `8k..8k+7` (BEP 29).
//!
//! BEP 29 makes the length a non-zero multiple of 4 bytes, and libutp always sends 4; we send
//! multiples of 4 too. libtorrent 2.x, though, sends the bytes it needs, 1 to 3 early in a loss
//! episode (seen on the wire in the interop suite). Dropping those packets lost every ACK
//! libtorrent sent after a loss, until its connection timed out, so a received mask of any
//! length from 1 to 255 bytes is accepted.

use super::error::DecodeError;

/// Mask lengths come in steps of this many bytes (BEP 29).
const MASK_GRANULE: usize = 4;

/// The longest mask an extension's one-byte length can describe, in bytes: the largest multiple
/// of [`MASK_GRANULE`] that fits in a `u8`.
pub(super) const MAX_MASK_LEN: usize = 252;

/// True when `len` is a valid mask length: non-zero, a multiple of 4, and at most 252 bytes.
pub(super) const fn valid_mask_len(len: usize) -> bool {
    len != 0 && len % MASK_GRANULE == 0 && len <= MAX_MASK_LEN
}

/// True when `len` is acceptable in a received mask: any length an extension can have but 0.
pub(super) const fn valid_received_len(len: usize) -> bool {
    len != 0 && len <= u8::MAX as usize
}

/// A view of a received selective-ACK bitmask (extension type 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectiveAck<'a> {
    mask: &'a [u8],
}

impl<'a> SelectiveAck<'a> {
    /// Wraps a received `mask`, which must be 1 to 255 bytes long (any length an extension can
    /// carry; see the module documentation for why not only multiples of 4). Otherwise
    /// returns [`DecodeError::BadSelectiveAckLength`] with the length, saturated at 255.
    pub fn new(mask: &'a [u8]) -> Result<Self, DecodeError> {
        if valid_received_len(mask.len()) {
            Ok(SelectiveAck { mask })
        } else {
            let len = u8::try_from(mask.len()).unwrap_or(u8::MAX);
            Err(DecodeError::BadSelectiveAckLength(len))
        }
    }

    /// The mask bytes as they appear on the wire.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.mask
    }

    /// How many packets the mask covers: 8 per byte.
    pub fn bit_count(&self) -> usize {
        self.mask.len() * 8
    }

    /// Whether bit `i` is set, i.e. whether packet `ack_nr + 2 + i` was received. False for any
    /// `i` past the end of the mask.
    pub fn is_set(&self, i: usize) -> bool {
        self.mask
            .get(i / 8)
            .is_some_and(|byte| byte & (1 << (i % 8)) != 0)
    }

    /// The indices of the set bits, in ascending order.
    pub fn iter_set(&self) -> impl Iterator<Item = usize> + 'a {
        SetBits {
            rest: self.mask,
            rest_base: 0,
            pending: 0,
            pending_base: 0,
        }
    }
}

/// Iterator over the set bits of a mask, lowest first.
struct SetBits<'a> {
    /// Bytes not yet loaded into `pending`.
    rest: &'a [u8],
    /// Bit index of the first byte of `rest`.
    rest_base: usize,
    /// Bits of the current byte not yet yielded.
    pending: u8,
    /// Bit index of bit 0 of `pending`.
    pending_base: usize,
}

impl Iterator for SetBits<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.pending == 0 {
            let (&byte, rest) = self.rest.split_first()?;
            self.pending = byte;
            self.pending_base = self.rest_base;
            self.rest = rest;
            self.rest_base += 8;
        }
        let bit = self.pending.trailing_zeros() as usize;
        // Clear the lowest set bit; `pending` is non-zero here, so this cannot underflow.
        self.pending &= self.pending - 1;
        Some(self.pending_base + bit)
    }
}

/// Sets bit `i` in a mask being built (bit `i` = packet `ack_nr + 2 + i` received, least
/// significant bit first). The caller sizes `mask` with [`sack_mask_len`]; a bit past its end is
/// ignored.
pub fn sack_set_bit(mask: &mut [u8], i: usize) {
    if let Some(byte) = mask.get_mut(i / 8) {
        *byte |= 1 << (i % 8);
    }
}

/// The mask length in bytes needed to hold bit `highest_bit`, rounded up to a multiple of 4
/// (BEP 29). For example bits 0..=31 need 4 bytes and bit 32 needs 8.
pub fn sack_mask_len(highest_bit: usize) -> usize {
    (highest_bit / (8 * MASK_GRANULE) + 1) * MASK_GRANULE
}
