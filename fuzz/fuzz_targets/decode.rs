//! The packet decoder on arbitrary bytes: it never panics, and what it accepts re-encodes to a
//! packet that decodes to the same header, selective-ACK bits, close reason and payload (a
//! received mask whose length is not a multiple of 4 is padded to one, as we would send it, and
//! one longer than the 252 bytes we send is cut there).
#![no_main]

use libfuzzer_sys::fuzz_target;
use utp::proto::packet::{encode, looks_like_utp, Extensions, Packet};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::decode(data) else {
        return;
    };
    assert!(looks_like_utp(data), "decoded but not uTP-looking");
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
    let mut out = vec![0u8; data.len() + 8];
    let n = encode(&p.header, &ext, p.payload, &mut out).expect("a decoded packet re-encodes");
    let again = Packet::decode(&out[..n]).expect("a re-encoded packet decodes");
    assert_eq!(again.header, p.header);
    assert_eq!(again.close_reason, p.close_reason);
    assert_eq!(again.payload, p.payload);
    let bits = |q: &Packet<'_>| {
        q.selective_ack
            .map(|s| s.iter_set().filter(|&i| i < 252 * 8).collect::<Vec<_>>())
    };
    assert_eq!(bits(&again), bits(&p));
});
