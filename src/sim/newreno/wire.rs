//! The model's private datagram format. It is not TCP: just enough to carry a segment's byte
//! offset one way and a cumulative acknowledgement, with optional SACK blocks (RFC 2018), the
//! other.
//!
//! Every datagram starts with a 20-byte header, the length of uTP's (BEP 29), so that a data
//! datagram of the same size as a uTP one carries the same payload and the two flows compete on
//! equal terms:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0 | [`TAG`] |
//! | 1 | kind: 0 data, 1 acknowledgement |
//! | 2 | SACK blocks that follow the header (ACK only, at most [`MAX_SACK_BLOCKS`]); zero for data |
//! | 3 | zero |
//! | 4..12 | offset, big-endian `u64`: of the first payload byte (data), or of the next byte expected (ACK) |
//! | 12..20 | zero |
//!
//! Data datagrams carry their payload after the header; its length is the rest of the datagram
//! and its bytes are zeros (the model counts bytes, it does not check them). An acknowledgement
//! carries its SACK blocks after the header, 16 bytes each: the offset of the block's first byte
//! and one past its last, both big-endian `u64` (RFC 2018 section 3's left and right edges).

/// First byte of every datagram of the model. A uTP datagram's first byte carries the protocol
/// version, 1, in its low nibble (BEP 29); this one's low nibble is 0xE, so a host carrying both
/// kinds of traffic tells them apart by the first byte alone.
pub const TAG: u8 = 0x4E;

/// Header length: uTP's, so both protocols carry the same payload in a datagram of one size.
pub const HEADER_LEN: usize = 20;

/// Most SACK blocks one acknowledgement carries: 3, what a TCP header with the timestamp option
/// (on by default in Linux, Windows and macOS) has room for (RFC 2018 section 3).
pub const MAX_SACK_BLOCKS: usize = 3;

/// Bytes of one SACK block on the wire.
const SACK_BLOCK_LEN: usize = 16;

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
    /// Every byte before `next` has arrived in order, and so has every byte of the `sack` blocks.
    Ack {
        /// The next byte the receiver expects.
        next: u64,
        /// Ranges received above `next`, most recent first (empty from a receiver without SACK).
        sack: SackBlocks,
    },
}

/// Up to [`MAX_SACK_BLOCKS`] byte ranges `[start, end)` received out of order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SackBlocks {
    blocks: [(u64, u64); MAX_SACK_BLOCKS],
    len: usize,
}

impl SackBlocks {
    /// The blocks, in the order they were added.
    pub fn as_slice(&self) -> &[(u64, u64)] {
        &self.blocks[..self.len]
    }

    /// Whether there is no block.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the block `[start, end)`; false, leaving the blocks as they were, when all
    /// [`MAX_SACK_BLOCKS`] are taken.
    pub fn push(&mut self, start: u64, end: u64) -> bool {
        if self.len == MAX_SACK_BLOCKS {
            return false;
        }
        self.blocks[self.len] = (start, end);
        self.len += 1;
        true
    }
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

/// Writes an acknowledgement of every byte before `next` and of the `sack` blocks into `buf`;
/// returns its length.
pub(super) fn write_ack(buf: &mut [u8], next: u64, sack: &SackBlocks) -> usize {
    write_header(buf, KIND_ACK, next);
    buf[2] = sack.len as u8;
    let mut at = HEADER_LEN;
    for &(start, end) in sack.as_slice() {
        buf[at..at + 8].copy_from_slice(&start.to_be_bytes());
        buf[at + 8..at + SACK_BLOCK_LEN].copy_from_slice(&end.to_be_bytes());
        at += SACK_BLOCK_LEN;
    }
    at
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut field = [0u8; 8];
    field.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(field)
}

fn write_header(buf: &mut [u8], kind: u8, offset: u64) {
    buf[..HEADER_LEN].fill(0);
    buf[0] = TAG;
    buf[1] = kind;
    buf[4..12].copy_from_slice(&offset.to_be_bytes());
}

/// Decodes a datagram of the model; `None` for anything else (too short, wrong tag, unknown kind,
/// an acknowledgement whose length is not that of its SACK blocks, too many or empty blocks).
pub fn decode(datagram: &[u8]) -> Option<Segment> {
    if datagram.len() < HEADER_LEN || !is_newreno(datagram) {
        return None;
    }
    let offset = read_u64(&datagram[4..12]);
    match datagram[1] {
        KIND_DATA => Some(Segment::Data {
            offset,
            len: datagram.len() - HEADER_LEN,
        }),
        KIND_ACK => {
            let count = usize::from(datagram[2]);
            if count > MAX_SACK_BLOCKS || datagram.len() != HEADER_LEN + count * SACK_BLOCK_LEN {
                return None;
            }
            let mut sack = SackBlocks::default();
            for block in datagram[HEADER_LEN..].chunks_exact(SACK_BLOCK_LEN) {
                let (start, end) = (read_u64(block), read_u64(&block[8..]));
                if start >= end {
                    return None;
                }
                sack.push(start, end);
            }
            Some(Segment::Ack { next: offset, sack })
        }
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
        let n = write_ack(&mut buf, 77, &SackBlocks::default());
        assert_eq!(n, HEADER_LEN);
        assert_eq!(
            decode(&buf[..n]),
            Some(Segment::Ack {
                next: 77,
                sack: SackBlocks::default()
            })
        );
    }

    #[test]
    fn sack_blocks_round_trip_in_order() {
        let mut sack = SackBlocks::default();
        assert!(sack.push(300, 400));
        assert!(sack.push(100, 200));
        assert!(sack.push(500, 501));
        assert!(!sack.push(600, 700), "a fourth block does not fit");
        let mut buf = [0u8; 128];
        let n = write_ack(&mut buf, 50, &sack);
        assert_eq!(n, HEADER_LEN + 3 * SACK_BLOCK_LEN);
        let Some(Segment::Ack { next, sack: got }) = decode(&buf[..n]) else {
            panic!("not an ACK");
        };
        assert_eq!(next, 50);
        assert_eq!(got.as_slice(), [(300, 400), (100, 200), (500, 501)]);
    }

    #[test]
    fn malformed_sack_blocks_are_rejected() {
        let mut sack = SackBlocks::default();
        sack.push(10, 20);
        let mut buf = [0u8; 128];
        let n = write_ack(&mut buf, 5, &sack);
        assert_eq!(decode(&buf[..n - 1]), None, "truncated block");
        buf[2] = 4;
        assert_eq!(
            decode(&buf[..HEADER_LEN + 4 * SACK_BLOCK_LEN]),
            None,
            "too many"
        );
        buf[2] = 1;
        buf[HEADER_LEN + 8..n].copy_from_slice(&10u64.to_be_bytes());
        assert_eq!(decode(&buf[..n]), None, "empty block");
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
        write_ack(&mut ack_with_payload, 5, &SackBlocks::default());
        assert_eq!(decode(&ack_with_payload), None);
        let mut unknown = [0u8; HEADER_LEN];
        write_header(&mut unknown, 9, 0);
        assert_eq!(decode(&unknown), None);
    }
}
