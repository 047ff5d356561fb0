//! [`RecvBuffer::insert_in_place`]: which packets may skip the buffer, and what the ones held
//! behind them become.

use super::*;

fn buf() -> RecvBuffer {
    RecvBuffer::new(10_000, 1000, SeqNr(100))
}

#[test]
fn only_the_next_packet_with_nothing_to_read_skips_the_buffer() {
    let mut b = buf();
    // Ahead of a gap, or already received: not in place.
    assert_eq!(b.insert_in_place(SeqNr(102), 10), None);
    assert_eq!(b.insert_in_place(SeqNr(100), 10), None);
    assert_eq!(
        b.insert_in_place(SeqNr(101), 10),
        Some(Inserted::InOrder { advanced: 1 })
    );
    assert_eq!(b.ack_nr(), SeqNr(101));
    assert_eq!(b.readable_len(), 0, "the payload was not stored");
    assert_eq!(b.buffered(), 0);
    // Buffered data waits for the reader: the next payload must queue behind it.
    assert_eq!(
        b.insert(SeqNr(102), b"xy", false),
        Inserted::InOrder { advanced: 1 }
    );
    assert_eq!(b.insert_in_place(SeqNr(103), 10), None);
    let mut out = [0u8; 4];
    assert_eq!(b.read(&mut out), 2);
    assert_eq!(
        b.insert_in_place(SeqNr(103), 10),
        Some(Inserted::InOrder { advanced: 1 })
    );
}

#[test]
fn packets_held_behind_it_become_readable() {
    let mut b = buf();
    assert_eq!(b.insert(SeqNr(102), b"bb", false), Inserted::OutOfOrder);
    assert_eq!(b.insert(SeqNr(103), b"c", false), Inserted::OutOfOrder);
    assert_eq!(b.insert(SeqNr(105), b"e", false), Inserted::OutOfOrder);
    assert_eq!(
        b.insert_in_place(SeqNr(101), 5),
        Some(Inserted::InOrder { advanced: 3 })
    );
    assert_eq!(b.ack_nr(), SeqNr(103));
    let mut out = [0u8; 8];
    assert_eq!(b.read(&mut out), 3);
    assert_eq!(&out[..3], b"bbc");
    assert!(b.has_gaps(), "105 is still held behind the gap at 104");
}

#[test]
fn a_closed_read_side_the_fin_and_a_full_buffer_keep_the_usual_path() {
    let mut discarding = buf();
    discarding.discard_incoming();
    assert_eq!(discarding.insert_in_place(SeqNr(101), 10), None);

    let mut finished = buf();
    assert_eq!(finished.insert(SeqNr(102), &[], true), Inserted::OutOfOrder);
    assert_eq!(
        finished.insert_in_place(SeqNr(102), 10),
        None,
        "past the FIN"
    );
    assert_eq!(
        finished.insert_in_place(SeqNr(101), 10),
        Some(Inserted::InOrder { advanced: 2 })
    );
    assert!(finished.fin_reached());

    // Held out of order: 9,000 bytes charged; 1,000 more fit (capacity 10,000 plus a packet of
    // slack), 2,001 do not.
    let mut full = buf();
    for i in 0..9 {
        assert_eq!(
            full.insert(SeqNr(102 + i), &[1; 1000], false),
            Inserted::OutOfOrder
        );
    }
    assert_eq!(full.insert_in_place(SeqNr(101), 2001), None);
    assert_eq!(
        full.insert_in_place(SeqNr(101), 2000),
        Some(Inserted::InOrder { advanced: 10 })
    );
}
