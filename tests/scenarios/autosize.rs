//! Receive-buffer autotuning follows what the application reads, not what arrives: a reader
//! that stops leaves the buffer (and the memory a peer can make us hold) at its start size; once
//! it reads again at full speed the buffer grows to the path's bandwidth-delay product. The
//! sender's window survives the pause: probes dropped by a full buffer are not congestion.

use crate::harness::*;
use std::time::Duration;
use utp::proto::Config;
use utp::sim::LinkConfig;

#[test]
fn a_reader_that_stops_keeps_the_receive_buffer_small() {
    // 100 Mbit/s, 100 ms round trip: 1.25 MB in flight, more than the 1 MiB start.
    let one_way = Duration::from_millis(50);
    let mut pair = Pair::new(
        "autosize: paused reader",
        80,
        Config::default(),
        LinkConfig::new()
            .bottleneck(12_500_000, 3_000_000)
            .delay(one_way),
        LinkConfig::new().delay(one_way),
    );
    pair.sim.node_mut(pair.a).keep_log = false;
    pair.sim.node_mut(pair.b).keep_log = false;
    pair.start_transfer(1 << 40, 0);
    pair.sim.run_for(Duration::from_millis(300));
    let (hb, _) = pair.b().single();
    let (ha, _) = pair.a().single();
    let cwnd = |pair: &Pair| pair.a().endpoint.connection_stats(ha).unwrap().cwnd;
    let cwnd_before = cwnd(&pair);
    pair.sim.with_node(pair.b, |n, _| {
        n.conns.get_mut(&hb).unwrap().read_paused = true
    });
    pair.sim.run_for(Duration::from_secs(3));
    let stats = |pair: &Pair| pair.b().endpoint.connection_stats(hb).unwrap();
    let paused = stats(&pair);
    println!(
        "paused reader: receive buffer {} B, {} B unread",
        paused.recv_buffer,
        pair.b().endpoint.readable_len(hb).unwrap()
    );
    assert_eq!(paused.recv_buffer, 1024 * 1024, "grew for data nobody read");
    // Window probes the full buffer dropped are flow control, not congestion.
    let cwnd_paused = cwnd(&pair);
    println!("sender's window: {cwnd_before} B before the pause, {cwnd_paused} B after 3 s of it");
    // (A window probe timeout used to collapse it to one packet, and each dropped probe to
    // halve it.)
    assert!(
        cwnd_paused >= 100_000,
        "the window collapsed while the peer's buffer was full: {cwnd_paused} B"
    );
    pair.sim.with_node(pair.b, |n, now| {
        n.conns.get_mut(&hb).unwrap().read_paused = false;
        n.kick(hb);
        n.pump(now);
    });
    pair.sim.run_for(Duration::from_secs(3));
    let reading = stats(&pair);
    println!("reading again: receive buffer {} B", reading.recv_buffer);
    assert!(
        reading.recv_buffer >= 2_500_000,
        "a reader at full speed on a 1.25 MB path: {} B",
        reading.recv_buffer
    );
}
