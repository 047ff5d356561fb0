//! The model's private datagram format. It is not TCP: just enough to carry a segment's byte
//! offset one way and a cumulative acknowledgement the other.
//!
//! Every datagram starts with a 20-byte header, the length of uTP's (BEP 29), so that a data
//! datagram of the same size as a uTP one carries the same payload and the two flows compete on
//! equal terms:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0 | [`TAG`] |
//! | 1 | kind: 0 data, 1 acknowledgement |
//! | 2..4 | zero |
//! | 4..12 | offset, big-endian `u64`: of the first payload byte (data), or of the next byte expected (ACK) |
//! | 12..20 | zero |
//!
//! Data datagrams carry their payload after the header; its length is the rest of the datagram
//! and its bytes are zeros (the model counts bytes, it does not check them).

/// First byte of every datagram of the model. A uTP datagram's first byte carries the protocol
/// version, 1, in its low nibble (BEP 29); this one's low nibble is 0xE, so a host carrying both
/// kinds of traffic tells them apart by the first byte alone.
pub const TAG: u8 = 0x4E;

/// Header length: uTP's, so both protocols carry the same payload in a datagram of one size.
pub const HEADER_LEN: usize = 20;

const KIND_DATA: u8 = 0;
const KIND_ACK: u8 = 1;

/// A decoded datagram of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// `len` payload bytes starting at byte `offset` of the stream.
    Data {
        /// Stream offset of the first payload byte.
        offset: u64,
        /// Payload length.
        len: usize,
    },
    /// Every byte before `next` has arrived in order.
    Ack {
        /// The next byte the receiver expects.
        next: u64,
    },
}

/// Whether `datagram` belongs to the model rather than to uTP.
pub fn is_newreno(datagram: &[u8]) -> bool {
    datagram.first() == Some(&TAG)
}

/// Writes a data header for the payload at `offset` into `buf`, zeroes `len` payload bytes after
/// it, and returns the datagram's length.
pub(super) fn write_data(buf: &mut [u8], offset: u64, len: usize) -> usize {
    let total = HEADER_LEN + len;
    write_header(buf, KIND_DATA, offset);
    buf[HEADER_LEN..total].fill(0);
    total
}

/// Writes an acknowledgement of every byte before `next` into `buf`; returns its length.
pub(super) fn write_ack(buf: &mut [u8], next: u64) -> usize {
    write_header(buf, KIND_ACK, next);
    HEADER_LEN
}

fn write_header(buf: &mut [u8], kind: u8, offset: u64) {
    buf[..HEADER_LEN].fill(0);
    buf[0] = TAG;
    buf[1] = kind;
    buf[4..12].copy_from_slice(&offset.to_be_bytes());
}

/// Decodes a datagram of the model; `None` for anything else (too short, wrong tag, unknown kind,
/// an acknowledgement with a payload).
pub fn decode(datagram: &[u8]) -> Option<Segment> {
    if datagram.len() < HEADER_LEN || !is_newreno(datagram) {
        return None;
    }
    let mut field = [0u8; 8];
    field.copy_from_slice(&datagram[4..12]);
    let offset = u64::from_be_bytes(field);
    match datagram[1] {
        KIND_DATA => Some(Segment::Data {
            offset,
            len: datagram.len() - HEADER_LEN,
        }),
        KIND_ACK if datagram.len() == HEADER_LEN => Some(Segment::Ack { next: offset }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_ack_round_trip() {
        let mut buf = [0xAAu8; 64];
        let n = write_data(&mut buf, 0x0102_0304_0506_0708, 30);
        assert_eq!(n, 50);
        assert_eq!(
            decode(&buf[..n]),
            Some(Segment::Data {
                offset: 0x0102_0304_0506_0708,
                len: 30
            })
        );
        assert!(buf[HEADER_LEN..n].iter().all(|&b| b == 0));
        let n = write_ack(&mut buf, 77);
        assert_eq!(decode(&buf[..n]), Some(Segment::Ack { next: 77 }));
    }

    #[test]
    fn utp_datagrams_and_garbage_are_not_ours() {
        // Every uTP packet type (high nibble 0..=4) with version 1.
        for kind in 0..=4u8 {
            let mut utp = [0u8; 20];
            utp[0] = kind << 4 | 1;
            assert!(!is_newreno(&utp));
            assert_eq!(decode(&utp), None);
        }
        assert_eq!(decode(&[TAG, KIND_ACK]), None, "short");
        let mut ack_with_payload = [0u8; HEADER_LEN + 1];
        write_ack(&mut ack_with_payload, 5);
        assert_eq!(decode(&ack_with_payload), None);
        let mut unknown = [0u8; HEADER_LEN];
        write_header(&mut unknown, 9, 0);
        assert_eq!(decode(&unknown), None);
    }
}
