//! Datagrams a test forges: a bare SYN, as a flooding host sends it. Shared by the real-socket
//! tests (through `common`) and the simulator scenarios (by path).

use utp::proto::packet::{encode, Extensions, Header, PacketType};
use utp::proto::time::WireTime;
use utp::proto::SeqNr;

/// A SYN for `connection_id` starting at `seq`, with nothing to follow it.
pub fn syn(connection_id: u16, seq: u16) -> Vec<u8> {
    let header = Header {
        packet_type: PacketType::Syn,
        connection_id,
        timestamp: WireTime(1),
        timestamp_diff: 0,
        window: 1 << 20,
        seq_nr: SeqNr(seq),
        ack_nr: SeqNr(0),
    };
    let mut out = vec![0u8; 64];
    let n = encode(&header, &Extensions::default(), &[], &mut out).expect("encode");
    out.truncate(n);
    out
}
