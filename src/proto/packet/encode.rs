//! The send side of the codec (BEP 29, "Header format" and "Extension"): writing a header, its
//! extension chain and a payload into a caller-supplied buffer.
//!
//! The chain is written selective ACK first, then close reason, each naming the next; the close
//! reason body is two zero bytes then the big-endian code (libtorrent's layout). Everything is
//! checked before the first byte is written, so a failed call leaves `out` untouched. Nothing
//! allocates.

use super::error::EncodeError;
use super::ext::{
    Extensions, CLOSE_REASON_LEN, EXT_CLOSE_REASON, EXT_NONE, EXT_PREFIX_LEN, EXT_SELECTIVE_ACK,
};
use super::header::{Header, HEADER_LEN};
use super::sack::valid_mask_len;

/// Writes `header` and the extension chain `ext` at the start of `out` and returns the offset at
/// which the payload goes (`HEADER_LEN + ext.encoded_len()`).
///
/// Fails with [`EncodeError::BadSelectiveAck`] when the mask is empty, not a multiple of 4 bytes
/// or over 252 bytes, and with [`EncodeError::BufferTooSmall`] when `out` is shorter than the
/// returned offset would be.
pub fn encode_prefix(
    header: &Header,
    ext: &Extensions<'_>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let len = prefix_len(ext)?;
    let out = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
    write_prefix(header, ext, out);
    Ok(len)
}

/// Writes a whole packet into `out`: header, extension chain, then `payload`. Returns the
/// packet's length. Fails like [`encode_prefix`], and with [`EncodeError::BufferTooSmall`] when
/// the payload does not fit either.
pub fn encode(
    header: &Header,
    ext: &Extensions<'_>,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let prefix = prefix_len(ext)?;
    let total = prefix
        .checked_add(payload.len())
        .ok_or(EncodeError::BufferTooSmall)?;
    let out = out.get_mut(..total).ok_or(EncodeError::BufferTooSmall)?;
    let (head, body) = out.split_at_mut(prefix);
    write_prefix(header, ext, head);
    body.copy_from_slice(payload);
    Ok(total)
}

/// Validates `ext` and returns the length of header plus chain.
fn prefix_len(ext: &Extensions<'_>) -> Result<usize, EncodeError> {
    if let Some(mask) = ext.selective_ack {
        if !valid_mask_len(mask.len()) {
            return Err(EncodeError::BadSelectiveAck);
        }
    }
    // With the mask at most 252 bytes the sum is small; no overflow is possible.
    Ok(HEADER_LEN + ext.encoded_len())
}

/// Writes header and chain into `out`, which is exactly `prefix_len(ext)` bytes long and holds a
/// validated mask.
fn write_prefix(header: &Header, ext: &Extensions<'_>, out: &mut [u8]) {
    let first = match (ext.selective_ack, ext.close_reason) {
        (Some(_), _) => EXT_SELECTIVE_ACK,
        (None, Some(_)) => EXT_CLOSE_REASON,
        (None, None) => EXT_NONE,
    };
    let (head, mut chain) = out.split_at_mut(HEADER_LEN);
    head.copy_from_slice(&header.to_bytes(first));

    if let Some(mask) = ext.selective_ack {
        let next = if ext.close_reason.is_some() {
            EXT_CLOSE_REASON
        } else {
            EXT_NONE
        };
        chain = write_extension(chain, next, mask);
    }
    if let Some(reason) = ext.close_reason {
        let [hi, lo] = reason.to_be_bytes();
        let body: [u8; CLOSE_REASON_LEN] = [0, 0, hi, lo];
        write_extension(chain, EXT_NONE, &body);
    }
}

/// Writes one extension `[next, len, body]` at the start of `out` and returns what follows it.
/// Callers pass bodies of at most 252 bytes (a validated mask or a close reason), so the length
/// fits its byte.
fn write_extension<'o>(out: &'o mut [u8], next: u8, body: &[u8]) -> &'o mut [u8] {
    let len = u8::try_from(body.len()).unwrap_or(u8::MAX);
    let (prefix, rest) = out.split_at_mut(EXT_PREFIX_LEN);
    prefix.copy_from_slice(&[next, len]);
    let (dst, rest) = rest.split_at_mut(body.len());
    dst.copy_from_slice(body);
    rest
}
