//! The extension chain and the selective ACK, from the wire to the send queue. The decode
//! target already walks the chain (`Packet::decode` is the only parser); this one follows what
//! it accepts into its consumer: the selective-ACK bits agree between `iter_set`, `is_set` and
//! `bit_count`, and the packet's ACK applied to a send queue holding packets around its
//! `ack_nr` (the queue's first sequence number and size come from the input's last three
//! bytes) never panics, acknowledges only packets the queue holds, and leaves its accounting
//! consistent (what remains in flight is at most what was sent).
#![no_main]

use libfuzzer_sys::fuzz_target;
use utp::proto::packet::Packet;
use utp::proto::reliability::send_queue::{Kind, SendQueue};
use utp::proto::Instant;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::decode(data) else {
        return;
    };
    if let Some(sack) = p.selective_ack {
        let set: Vec<usize> = sack.iter_set().collect();
        assert!(set.windows(2).all(|w| w[0] < w[1]), "bits out of order");
        assert!(set.iter().all(|&i| i < sack.bit_count() && sack.is_set(i)));
        let counted = (0..sack.bit_count() + 16)
            .filter(|&i| sack.is_set(i))
            .count();
        assert_eq!(set.len(), counted, "iter_set and is_set disagree");
    }
    // A queue of up to 255 packets starting up to 255 before ack_nr + 1.
    let tail = &data[data.len().saturating_sub(3)..];
    let (back, count, size) = match tail {
        [a, b, c] => (*a, usize::from(*b), usize::from(*c) * 4),
        _ => return,
    };
    let first = p.header.ack_nr.add(1).sub(u16::from(back));
    let mut queue = SendQueue::new(first, 1500);
    let t0 = Instant::from_micros(1_000_000);
    for i in 0..count {
        let kind = if i == 0 { Kind::Syn } else { Kind::Data };
        queue.push(t0, kind, vec![0u8; size]);
    }
    let (len, in_flight) = (queue.len(), queue.in_flight());
    let now = Instant::from_micros(1_100_000);
    let ack = p.header.ack_nr;
    let cumulative = if queue.ack_is_plausible(ack) {
        queue.ack_cumulative(now, ack)
    } else {
        Default::default()
    };
    assert!(
        cumulative.packets <= len,
        "acknowledged more packets than were sent"
    );
    if let Some(sack) = p.selective_ack {
        let selective = queue.ack_selective(now, ack, sack.bit_count(), |i| sack.is_set(i));
        assert!(selective.packets <= len);
    }
    assert!(queue.len() <= len, "the queue grew on an ACK");
    assert!(
        queue.in_flight() <= in_flight,
        "bytes in flight grew on an ACK"
    );
});
