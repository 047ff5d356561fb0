//! Property tests of the packet codec: round trips, and robustness against arbitrary datagrams.

use super::*;
use crate::proto::seq::SeqNr;
use crate::proto::time::WireTime;
use proptest::prelude::*;

fn arb_type() -> impl Strategy<Value = PacketType> {
    prop_oneof![
        Just(PacketType::Data),
        Just(PacketType::Fin),
        Just(PacketType::State),
        Just(PacketType::Reset),
        Just(PacketType::Syn),
    ]
}

fn arb_header() -> impl Strategy<Value = Header> {
    (
        arb_type(),
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(packet_type, id, ts, diff, window, seq, ack)| Header {
            packet_type,
            connection_id: id,
            timestamp: WireTime(ts),
            timestamp_diff: diff,
            window,
            seq_nr: SeqNr(seq),
            ack_nr: SeqNr(ack),
        })
}

/// A valid selective-ACK mask: 4 to 252 bytes in steps of 4.
fn arb_mask() -> impl Strategy<Value = Vec<u8>> {
    (1usize..=63).prop_flat_map(|words| prop::collection::vec(any::<u8>(), words * 4))
}

/// Datagrams that get past the first byte often enough to exercise the extension walk.
fn arb_datagram() -> impl Strategy<Value = Vec<u8>> {
    let plausible = (
        0u8..=5,
        0u8..=5,
        prop::collection::vec(any::<u8>(), 18),
        prop::collection::vec(
            (0u8..=4, 0u8..=12).prop_flat_map(|(next, len)| {
                prop::collection::vec(any::<u8>(), usize::from(len)).prop_map(move |body| {
                    let mut e = vec![next, len];
                    e.extend(body);
                    e
                })
            }),
            0..4,
        ),
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(t, first, rest, exts, tail)| {
            let mut v = vec![(t << 4) | VERSION, first];
            v.extend(rest);
            for e in exts {
                v.extend(e);
            }
            v.extend(tail);
            v
        });
    prop_oneof![prop::collection::vec(any::<u8>(), 0..64), plausible]
}

/// Re-encodes a decoded packet with the same header, SACK bits, close reason and payload. A
/// received mask whose length is not a multiple of 4 (libtorrent's) is padded with zero bytes
/// to one, as we would send the same information, and one longer than 252 bytes is cut there.
fn reencode(p: &Packet<'_>, out: &mut [u8]) -> usize {
    let mask = p.selective_ack.map(|s| {
        let mut m = s.as_bytes().to_vec();
        // The longest mask we send is 252 bytes (a one-byte length, a multiple of 4).
        m.resize((m.len().div_ceil(4) * 4).min(252), 0);
        m
    });
    let ext = Extensions {
        selective_ack: mask.as_deref(),
        close_reason: p.close_reason,
    };
    encode(&p.header, &ext, p.payload, out).expect("a decoded packet re-encodes")
}

proptest! {
    #[test]
    fn encode_then_decode_round_trips(
        header in arb_header(),
        mask in prop::option::of(arb_mask()),
        close_reason in prop::option::of(any::<u16>()),
        payload in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let ext = Extensions { selective_ack: mask.as_deref(), close_reason };
        let mut out = [0u8; 1024];
        let n = encode(&header, &ext, &payload, &mut out).expect("fits");
        prop_assert_eq!(n, HEADER_LEN + ext.encoded_len() + payload.len());
        prop_assert!(looks_like_utp(&out[..n]));

        let p = Packet::decode(&out[..n]).expect("decodes");
        prop_assert_eq!(p.header, header);
        prop_assert_eq!(p.selective_ack.map(|s| s.as_bytes()), mask.as_deref());
        prop_assert_eq!(p.close_reason, close_reason);
        prop_assert_eq!(p.payload, &payload[..]);

        // encode_prefix writes the same bytes and returns the payload offset.
        let mut prefix = [0u8; 1024];
        let off = encode_prefix(&header, &ext, &mut prefix).expect("fits");
        prop_assert_eq!(off, HEADER_LEN + ext.encoded_len());
        prop_assert_eq!(&prefix[..off], &out[..off]);
    }

    #[test]
    fn decode_never_panics_and_what_it_accepts_reencodes(buf in arb_datagram()) {
        if let Ok(p) = Packet::decode(&buf) {
            prop_assert!(looks_like_utp(&buf));
            let mut out = [0u8; 1024];
            let n = reencode(&p, &mut out);
            prop_assert!(n <= buf.len() + 3);
            let again = Packet::decode(&out[..n]).expect("re-encoded packet decodes");
            prop_assert_eq!(again.header, p.header);
            prop_assert_eq!(again.close_reason, p.close_reason);
            prop_assert_eq!(again.payload, p.payload);
            let bits = |q: &Packet<'_>| {
                q.selective_ack
                    .map(|s| s.iter_set().filter(|&i| i < 252 * 8).collect::<Vec<_>>())
            };
            prop_assert_eq!(bits(&again), bits(&p));
        }
    }

    #[test]
    fn truncating_header_or_extensions_is_an_error(
        header in arb_header(),
        mask in prop::option::of(arb_mask()),
        close_reason in prop::option::of(any::<u16>()),
        payload in prop::collection::vec(any::<u8>(), 0..16),
        cut in any::<prop::sample::Index>(),
    ) {
        let ext = Extensions { selective_ack: mask.as_deref(), close_reason };
        let mut out = [0u8; 1024];
        let n = encode(&header, &ext, &payload, &mut out).expect("fits");
        let prefix = HEADER_LEN + ext.encoded_len();
        let at = cut.index(prefix);
        let expected = if at < HEADER_LEN {
            DecodeError::TooShort
        } else {
            DecodeError::TruncatedExtension
        };
        prop_assert_eq!(Packet::decode(&out[..at]), Err(expected));
        // Cutting into the payload only shortens the payload.
        let at = prefix + cut.index(n - prefix + 1);
        let p = Packet::decode(&out[..at]).expect("decodes");
        prop_assert_eq!(p.payload, &payload[..at - prefix]);
    }

    #[test]
    fn sack_bits_set_are_the_bits_read(bits in prop::collection::btree_set(0usize..2016, 1..40)) {
        let highest = *bits.iter().next_back().expect("non-empty");
        let len = sack_mask_len(highest);
        prop_assert_eq!(len % 4, 0);
        prop_assert!(len * 8 > highest && len * 8 <= highest + 32 + 1);
        let mut mask = vec![0u8; len];
        for &i in &bits {
            sack_set_bit(&mut mask, i);
        }
        let sack = SelectiveAck::new(&mask).expect("valid");
        prop_assert!(sack.iter_set().eq(bits.iter().copied()));
        for i in 0..sack.bit_count() + 8 {
            prop_assert_eq!(sack.is_set(i), bits.contains(&i));
        }
    }
}
