//! Unit tests of the packet codec: wire bytes checked against BEP 29 and the libutp notes.

use super::*;
use crate::proto::seq::SeqNr;
use crate::proto::time::WireTime;

fn header(packet_type: PacketType) -> Header {
    Header {
        packet_type,
        connection_id: 0x1234,
        timestamp: WireTime(0xDEAD_BEEF),
        timestamp_diff: 0x0102_0304,
        window: 0x0010_0000,
        seq_nr: SeqNr(0xABCD),
        ack_nr: SeqNr(0x0FED),
    }
}

fn encode_vec(h: &Header, ext: &Extensions<'_>, payload: &[u8]) -> Vec<u8> {
    let mut out = [0u8; 512];
    let n = encode(h, ext, payload, &mut out).expect("fits");
    out[..n].to_vec()
}

/// A bare 20-byte header with the given first two bytes, the rest zero.
fn raw(b0: u8, first_ext: u8) -> Vec<u8> {
    let mut v = vec![0u8; HEADER_LEN];
    v[0] = b0;
    v[1] = first_ext;
    v
}

#[test]
fn first_byte_of_each_packet_type() {
    let cases = [
        (PacketType::Syn, 0x41),
        (PacketType::State, 0x21),
        (PacketType::Data, 0x01),
        (PacketType::Fin, 0x11),
        (PacketType::Reset, 0x31),
    ];
    for (t, byte) in cases {
        let wire = encode_vec(&header(t), &Extensions::default(), &[]);
        assert_eq!(wire.len(), HEADER_LEN);
        assert_eq!(wire[0], byte, "{t:?}");
        assert_eq!(wire[1], 0, "no extension");
        let p = Packet::decode(&wire).expect("decodes");
        assert_eq!(p.header.packet_type, t);
        assert_eq!(PacketType::from_u8(byte >> 4), Some(t));
        assert_eq!(t.as_u8(), byte >> 4);
    }
    assert_eq!(PacketType::from_u8(5), None);
    assert_eq!(PacketType::from_u8(0xFF), None);
}

#[test]
fn header_fields_are_big_endian_at_their_offsets() {
    let wire = encode_vec(&header(PacketType::Data), &Extensions::default(), &[]);
    assert_eq!(
        wire,
        [
            0x01, 0x00, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04, 0x00, 0x10,
            0x00, 0x00, 0xAB, 0xCD, 0x0F, 0xED,
        ]
    );
    let p = Packet::decode(&wire).expect("decodes");
    assert_eq!(p.header, header(PacketType::Data));
    assert_eq!(p.selective_ack, None);
    assert_eq!(p.close_reason, None);
    assert!(p.payload.is_empty());
}

/// The ucat handshake recorded in the libutp notes (§5.3): types, ids, seq and ack numbers.
#[test]
fn libutp_handshake_example() {
    let rows: [(PacketType, u16, u16, u16, u32); 7] = [
        (PacketType::Syn, 17767, 9158, 0, 1_048_576),
        (PacketType::State, 17767, 17767, 9158, 0),
        (PacketType::Data, 17768, 9159, 17766, 0),
        (PacketType::State, 17767, 17767, 9159, 0),
        (PacketType::Fin, 17768, 9160, 17766, 0),
        (PacketType::State, 17767, 17767, 9160, 0),
        (PacketType::Fin, 17767, 17767, 9160, 0),
    ];
    for (t, id, seq, ack, wnd) in rows {
        let h = Header {
            packet_type: t,
            connection_id: id,
            timestamp: WireTime(0),
            timestamp_diff: 0,
            window: wnd,
            seq_nr: SeqNr(seq),
            ack_nr: SeqNr(ack),
        };
        let wire = encode_vec(&h, &Extensions::default(), &[]);
        assert_eq!(&wire[2..4], &id.to_be_bytes());
        assert_eq!(&wire[16..18], &seq.to_be_bytes());
        assert_eq!(&wire[18..20], &ack.to_be_bytes());
        assert_eq!(Packet::decode(&wire).expect("decodes").header, h);
    }

    // The SYN, byte for byte: 17767 = 0x4567, 9158 = 0x23C6, 1048576 = 0x0010_0000.
    let syn = [
        0x41, 0x00, 0x45, 0x67, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10, 0x00, 0x00, 0x23, 0xC6, 0x00,
        0x00,
    ];
    let p = Packet::decode(&syn).expect("decodes");
    assert_eq!(p.header.packet_type, PacketType::Syn);
    assert_eq!(p.header.connection_id, 17767);
    assert_eq!(p.header.seq_nr, SeqNr(9158));
    assert_eq!(p.header.ack_nr, SeqNr(0));
    assert_eq!(p.header.window, 1_048_576);
}

#[test]
fn too_short() {
    assert_eq!(Packet::decode(&[]), Err(DecodeError::TooShort));
    let wire = encode_vec(&header(PacketType::State), &Extensions::default(), &[]);
    assert_eq!(
        Packet::decode(&wire[..HEADER_LEN - 1]),
        Err(DecodeError::TooShort)
    );
}

#[test]
fn bad_version() {
    assert_eq!(
        Packet::decode(&raw(0x42, 0)),
        Err(DecodeError::BadVersion(2))
    );
    assert_eq!(
        Packet::decode(&raw(0x00, 0)),
        Err(DecodeError::BadVersion(0))
    );
    // The version is checked before the type.
    assert_eq!(
        Packet::decode(&raw(0xFF, 0)),
        Err(DecodeError::BadVersion(15))
    );
}

#[test]
fn bad_type() {
    assert_eq!(Packet::decode(&raw(0x51, 0)), Err(DecodeError::BadType(5)));
    assert_eq!(Packet::decode(&raw(0xF1, 0)), Err(DecodeError::BadType(15)));
}

#[test]
fn truncated_extension() {
    // Names an extension, but the datagram ends with the header.
    let v = raw(0x21, 2);
    assert_eq!(Packet::decode(&v), Err(DecodeError::TruncatedExtension));
    // Only one byte of the extension's two-byte prefix.
    let mut v = raw(0x21, 2);
    v.push(0);
    assert_eq!(Packet::decode(&v), Err(DecodeError::TruncatedExtension));
    // The body is one byte short.
    let mut v = raw(0x21, 2);
    v.extend_from_slice(&[0, 8, 1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(Packet::decode(&v), Err(DecodeError::TruncatedExtension));
    // Longest possible length byte with nothing behind it.
    let mut v = raw(0x21, 9);
    v.extend_from_slice(&[0, 255]);
    assert_eq!(Packet::decode(&v), Err(DecodeError::TruncatedExtension));
    // The first extension is whole but names a second one that is missing.
    let mut v = raw(0x21, 2);
    v.extend_from_slice(&[1, 0]);
    assert_eq!(Packet::decode(&v), Err(DecodeError::TruncatedExtension));
}

#[test]
fn selective_ack_lengths() {
    // An empty mask says nothing and fails the packet.
    let mut v = raw(0x21, 1);
    v.extend_from_slice(&[0, 0]);
    assert_eq!(
        Packet::decode(&v),
        Err(DecodeError::BadSelectiveAckLength(0))
    );
    // Any other length is accepted: multiples of 4 as BEP 29 asks, and the 1-3 byte masks
    // libtorrent 2.x sends.
    for len in [1u8, 2, 3, 4, 5, 7, 8, 12, 32, 252, 255] {
        let mut v = raw(0x21, 1);
        v.extend_from_slice(&[0, len]);
        v.extend(std::iter::repeat_n(0xFF, usize::from(len)));
        let p = Packet::decode(&v).expect("accepted");
        let sack = p.selective_ack.expect("sack");
        assert_eq!(sack.as_bytes().len(), usize::from(len));
        assert_eq!(sack.bit_count(), 8 * usize::from(len));
        assert!(p.payload.is_empty());
    }
}

#[test]
fn selective_ack_new_checks_length() {
    assert_eq!(
        SelectiveAck::new(&[]),
        Err(DecodeError::BadSelectiveAckLength(0))
    );
    assert_eq!(
        SelectiveAck::new(&[0; 256]),
        Err(DecodeError::BadSelectiveAckLength(255))
    );
    for len in [1, 3, 4, 252, 255] {
        assert!(SelectiveAck::new(&vec![0; len]).is_ok(), "{len}");
    }
}

/// Bit i stands for packet ack_nr + 2 + i, least significant bit first in each byte.
#[test]
fn selective_ack_bit_layout() {
    let ack_nr = SeqNr(0xFFFE);
    let received = [ack_nr + 2, ack_nr + 4, ack_nr + 10, ack_nr + 33];
    let highest = usize::from(received[3].distance_from(ack_nr)) - 2;
    let mut mask = [0u8; 8];
    let len = sack_mask_len(highest);
    assert_eq!(len, 4);
    for seq in received {
        sack_set_bit(&mut mask[..len], usize::from(seq.distance_from(ack_nr)) - 2);
    }
    assert_eq!(&mask[..len], &[0b0000_0101, 0b0000_0001, 0x00, 0x80]);

    let sack = SelectiveAck::new(&mask[..len]).expect("valid");
    assert_eq!(sack.bit_count(), 32);
    assert_eq!(sack.iter_set().collect::<Vec<_>>(), [0, 2, 8, 31]);
    for i in 0..40 {
        let seq = ack_nr + 2 + i as u16;
        assert_eq!(sack.is_set(i), received.contains(&seq), "bit {i}");
    }
    assert!(!sack.is_set(usize::MAX));

    // On the wire, with ack_nr in the header: the 26-byte EACK packet libutp sends.
    let mut h = header(PacketType::State);
    h.ack_nr = ack_nr;
    let ext = Extensions {
        selective_ack: Some(&mask[..len]),
        close_reason: None,
    };
    let wire = encode_vec(&h, &ext, &[]);
    assert_eq!(wire.len(), 26);
    assert_eq!(wire[1], EXT_SELECTIVE_ACK);
    assert_eq!(&wire[20..], &[0, 4, 0b0000_0101, 0b0000_0001, 0x00, 0x80]);
    let p = Packet::decode(&wire).expect("decodes");
    assert_eq!(p.selective_ack, Some(sack));
}

#[test]
fn iter_set_covers_every_bit_of_a_long_mask() {
    let mask = [0xFFu8; 12];
    let sack = SelectiveAck::new(&mask).expect("valid");
    assert!(sack.iter_set().eq(0..96));
    let empty = SelectiveAck::new(&[0u8; 8]).expect("valid");
    assert_eq!(empty.iter_set().next(), None);
}

#[test]
fn sack_mask_len_rounds_up_to_four_bytes() {
    assert_eq!(sack_mask_len(0), 4);
    assert_eq!(sack_mask_len(31), 4);
    assert_eq!(sack_mask_len(32), 8);
    assert_eq!(sack_mask_len(63), 8);
    assert_eq!(sack_mask_len(64), 12);
    assert_eq!(sack_mask_len(2015), 252);
}

#[test]
fn sack_set_bit_past_the_end_is_ignored() {
    let mut mask = [0u8; 4];
    sack_set_bit(&mut mask, 32);
    sack_set_bit(&mut mask, usize::MAX);
    assert_eq!(mask, [0; 4]);
    sack_set_bit(&mut mask, 8);
    assert_eq!(mask, [0, 1, 0, 0]);
}

#[test]
fn first_selective_ack_wins() {
    let mut v = raw(0x21, 1);
    v.extend_from_slice(&[1, 4, 0xAA, 0, 0, 0]);
    v.extend_from_slice(&[0, 4, 0x55, 0, 0, 0]);
    let p = Packet::decode(&v).expect("decodes");
    assert_eq!(
        p.selective_ack.map(|s| s.as_bytes()),
        Some(&[0xAA, 0, 0, 0][..])
    );
    // A later malformed one still fails the packet.
    let mut v = raw(0x21, 1);
    v.extend_from_slice(&[1, 4, 0xAA, 0, 0, 0]);
    v.extend_from_slice(&[0, 0]);
    assert_eq!(
        Packet::decode(&v),
        Err(DecodeError::BadSelectiveAckLength(0))
    );
}

#[test]
fn unknown_extension_is_skipped() {
    // Unknown type 0x7F (3 bytes), then a SACK, then the payload.
    let mut v = raw(0x01, 0x7F);
    v.extend_from_slice(&[EXT_SELECTIVE_ACK, 3, 9, 9, 9]);
    v.extend_from_slice(&[EXT_NONE, 4, 1, 0, 0, 0]);
    v.extend_from_slice(b"hello");
    let p = Packet::decode(&v).expect("decodes");
    assert_eq!(
        p.selective_ack.map(|s| s.as_bytes()),
        Some(&[1, 0, 0, 0][..])
    );
    assert_eq!(p.close_reason, None);
    assert_eq!(p.payload, b"hello");

    // An empty unknown extension.
    let mut v = raw(0x01, 200);
    v.extend_from_slice(&[EXT_NONE, 0]);
    v.extend_from_slice(b"x");
    assert_eq!(Packet::decode(&v).expect("decodes").payload, b"x");
}

#[test]
fn extension_bits_of_any_length_are_tolerated() {
    for len in [0u8, 5, 8, 13] {
        let mut v = raw(0x41, EXT_EXTENSION_BITS);
        v.extend_from_slice(&[EXT_NONE, len]);
        v.extend(std::iter::repeat_n(0xEE, usize::from(len)));
        v.extend_from_slice(b"data");
        let p = Packet::decode(&v).expect("decodes");
        assert_eq!(p.payload, b"data", "length {len}");
        assert_eq!(p.selective_ack, None);
        assert_eq!(p.close_reason, None);
    }
}

#[test]
fn close_reason_round_trip() {
    let h = header(PacketType::Fin);
    let ext = Extensions {
        selective_ack: None,
        close_reason: Some(0x0102),
    };
    assert_eq!(ext.encoded_len(), 6);
    let wire = encode_vec(&h, &ext, &[]);
    assert_eq!(wire[1], EXT_CLOSE_REASON);
    assert_eq!(&wire[20..], &[EXT_NONE, 4, 0, 0, 0x01, 0x02]);
    let p = Packet::decode(&wire).expect("decodes");
    assert_eq!(p.header, h);
    assert_eq!(p.close_reason, Some(0x0102));
    assert_eq!(p.selective_ack, None);

    // Together with a SACK: the SACK comes first and names the close reason as next.
    let mask = [0x80, 0, 0, 1];
    let ext = Extensions {
        selective_ack: Some(&mask),
        close_reason: Some(u16::MAX),
    };
    assert_eq!(ext.encoded_len(), 12);
    let wire = encode_vec(&h, &ext, b"tail");
    assert_eq!(wire[1], EXT_SELECTIVE_ACK);
    assert_eq!(
        &wire[20..],
        &[
            EXT_CLOSE_REASON,
            4,
            0x80,
            0,
            0,
            1,
            EXT_NONE,
            4,
            0,
            0,
            0xFF,
            0xFF,
            b't',
            b'a',
            b'i',
            b'l'
        ]
    );
    let p = Packet::decode(&wire).expect("decodes");
    assert_eq!(p.close_reason, Some(u16::MAX));
    assert_eq!(p.selective_ack.map(|s| s.as_bytes()), Some(&mask[..]));
    assert_eq!(p.payload, b"tail");
}

#[test]
fn close_reason_ignores_reserved_bytes_and_skips_other_lengths() {
    let mut v = raw(0x31, EXT_CLOSE_REASON);
    v.extend_from_slice(&[EXT_NONE, 4, 0xAB, 0xCD, 0x00, 0x07]);
    assert_eq!(Packet::decode(&v).expect("decodes").close_reason, Some(7));

    for len in [0u8, 2, 3, 6] {
        let mut v = raw(0x31, EXT_CLOSE_REASON);
        v.extend_from_slice(&[EXT_NONE, len]);
        v.extend(std::iter::repeat_n(0x11, usize::from(len)));
        v.push(b'!');
        let p = Packet::decode(&v).expect("decodes");
        assert_eq!(p.close_reason, None, "length {len}");
        assert_eq!(p.payload, b"!");
    }

    // Several: the first well-formed one wins.
    let mut v = raw(0x31, EXT_CLOSE_REASON);
    v.extend_from_slice(&[EXT_CLOSE_REASON, 2, 0, 9]);
    v.extend_from_slice(&[EXT_CLOSE_REASON, 4, 0, 0, 0, 1]);
    v.extend_from_slice(&[EXT_NONE, 4, 0, 0, 0, 2]);
    assert_eq!(Packet::decode(&v).expect("decodes").close_reason, Some(1));
}

#[test]
fn any_type_may_carry_a_payload() {
    for t in [
        PacketType::Data,
        PacketType::Fin,
        PacketType::State,
        PacketType::Reset,
        PacketType::Syn,
    ] {
        let wire = encode_vec(&header(t), &Extensions::default(), b"abc");
        assert_eq!(wire.len(), HEADER_LEN + 3);
        assert_eq!(Packet::decode(&wire).expect("decodes").payload, b"abc");
    }
}

#[test]
fn encode_rejects_bad_masks() {
    let h = header(PacketType::State);
    let mut out = [0u8; 600];
    for len in [0usize, 3, 5, 256, 300] {
        let mask = vec![0u8; len];
        let ext = Extensions {
            selective_ack: Some(&mask),
            close_reason: None,
        };
        assert_eq!(
            encode(&h, &ext, &[], &mut out),
            Err(EncodeError::BadSelectiveAck),
            "length {len}"
        );
        assert_eq!(
            encode_prefix(&h, &ext, &mut out),
            Err(EncodeError::BadSelectiveAck)
        );
    }
    let mask = [0xFFu8; 252];
    let ext = Extensions {
        selective_ack: Some(&mask),
        close_reason: Some(1),
    };
    let n = encode(&h, &ext, &[], &mut out).expect("fits");
    assert_eq!(n, HEADER_LEN + 2 + 252 + 6);
    assert_eq!(out[21], 252);
}

#[test]
fn encode_reports_a_small_buffer_and_leaves_it_untouched() {
    let h = header(PacketType::Data);
    let ext = Extensions {
        selective_ack: Some(&[1, 2, 3, 4]),
        close_reason: Some(5),
    };
    let prefix = HEADER_LEN + ext.encoded_len();

    let mut out = vec![0xEEu8; prefix - 1];
    assert_eq!(
        encode_prefix(&h, &ext, &mut out),
        Err(EncodeError::BufferTooSmall)
    );
    assert!(out.iter().all(|&b| b == 0xEE));

    let mut out = vec![0xEEu8; prefix + 2];
    assert_eq!(
        encode(&h, &ext, b"abc", &mut out),
        Err(EncodeError::BufferTooSmall)
    );
    assert!(out.iter().all(|&b| b == 0xEE));

    let mut out = vec![0xEEu8; HEADER_LEN - 1];
    assert_eq!(
        encode(&h, &Extensions::default(), &[], &mut out),
        Err(EncodeError::BufferTooSmall)
    );

    // Exactly enough room works, and the prefix length is the payload offset.
    let mut out = vec![0u8; prefix + 3];
    assert_eq!(encode_prefix(&h, &ext, &mut out), Ok(prefix));
    assert_eq!(encode(&h, &ext, b"abc", &mut out), Ok(prefix + 3));
    assert_eq!(&out[prefix..], b"abc");
}

#[test]
fn encoded_len_of_each_chain() {
    assert_eq!(Extensions::default().encoded_len(), 0);
    let four = [0u8; 4];
    let eight = [0u8; 8];
    let sack = |m| Extensions {
        selective_ack: Some(m),
        close_reason: None,
    };
    assert_eq!(sack(&four).encoded_len(), 6);
    assert_eq!(sack(&eight).encoded_len(), 10);
    let close = Extensions {
        selective_ack: None,
        close_reason: Some(0),
    };
    assert_eq!(close.encoded_len(), 6);
}

#[test]
fn looks_like_utp_checks_length_version_and_type() {
    for b0 in [0x01, 0x11, 0x21, 0x31, 0x41] {
        assert!(looks_like_utp(&raw(b0, 0)), "{b0:#x}");
        assert!(!looks_like_utp(&raw(b0, 0)[..HEADER_LEN - 1]));
    }
    assert!(!looks_like_utp(&raw(0x51, 0)));
    assert!(!looks_like_utp(&raw(0x42, 0)));
    assert!(!looks_like_utp(&raw(0x40, 0)));
    assert!(!looks_like_utp(&[]));
    // Only byte 0 and the length are looked at: a truncated chain still looks like uTP.
    assert!(looks_like_utp(&raw(0x21, 1)));
    assert!(Packet::decode(&raw(0x21, 1)).is_err());
}

#[test]
fn errors_display_something() {
    let errors: [&dyn std::error::Error; 7] = [
        &DecodeError::TooShort,
        &DecodeError::BadVersion(2),
        &DecodeError::BadType(9),
        &DecodeError::TruncatedExtension,
        &DecodeError::BadSelectiveAckLength(3),
        &EncodeError::BufferTooSmall,
        &EncodeError::BadSelectiveAck,
    ];
    for e in errors {
        assert!(!e.to_string().is_empty());
    }
}
