//! Behaviour of the LEDBAT controller, driven with synthetic instants and delay samples.

use core::time::Duration;

use proptest::prelude::*;

use super::ledbat::NO_SAMPLE_ALT;
use super::{Ledbat, LedbatConfig};
use crate::proto::time::Instant;

const MSS: usize = 1000;
/// Raw sample of an empty queue (any value works; the clocks are unrelated).
const BASE: u32 = 50_000;
const TARGET_US: u32 = 100_000;

fn at_ms(ms: u64) -> Instant {
    Instant::from_micros(ms * 1000)
}

fn with_initial_packets(packets: usize) -> Ledbat {
    Ledbat::new(
        LedbatConfig {
            initial_window_packets: packets,
            ..LedbatConfig::default()
        },
        MSS,
    )
}

/// Establishes the base delay.
fn set_base(cc: &mut Ledbat, now: Instant) {
    cc.on_delay_sample(now, BASE);
}

/// Makes the filtered queuing delay `queuing` µs (three samples that far above the base).
fn set_delay(cc: &mut Ledbat, now: Instant, queuing: u32) {
    for _ in 0..3 {
        cc.on_delay_sample(now, BASE + queuing);
    }
    assert_eq!(
        cc.queuing_delay(),
        Some(Duration::from_micros(u64::from(queuing)))
    );
}

/// Acknowledges one window's worth of data in MSS-sized ACKs; the sender is greedy, so the
/// flight before each ACK is the window at that moment.
fn ack_one_window(cc: &mut Ledbat, now: Instant, rtt: Option<Duration>) {
    let window = cc.window();
    let mut acked = 0;
    while acked < window {
        let n = MSS.min(window - acked);
        cc.on_ack(now, n, cc.window(), rtt);
        acked += n;
    }
}

#[test]
fn defaults() {
    let cc = Ledbat::new(LedbatConfig::default(), MSS);
    assert_eq!(cc.window(), 2 * MSS);
    assert_eq!(cc.min_window(), MSS);
    assert_eq!(cc.max_window(), 1024 * 1024);
    assert_eq!(cc.ssthresh(), 1024 * 1024);
    assert!(cc.in_slow_start());
    assert_eq!(cc.queuing_delay(), None);
    let from_config = LedbatConfig::from(&crate::proto::Config::default());
    assert_eq!(from_config.target, Duration::from_millis(100));
    assert_eq!(from_config.max_cwnd, 1024 * 1024);
}

#[test]
fn slow_start_doubles_per_window_of_acks_with_zero_delay() {
    let mut cc = with_initial_packets(4);
    set_base(&mut cc, at_ms(0));
    set_delay(&mut cc, at_ms(0), 0);
    for round in 0..6 {
        let before = cc.window();
        ack_one_window(&mut cc, at_ms(100 * round), None);
        assert_eq!(cc.window(), 2 * before, "round {round}");
        assert!(cc.in_slow_start());
    }
    assert_eq!(cc.window(), 256 * MSS);
}

#[test]
fn small_windows_grow_at_least_as_fast_as_slow_start() {
    // Below 3000 bytes the LEDBAT gain beats slow start's one MSS per MSS acked.
    let mut cc = Ledbat::new(LedbatConfig::default(), MSS);
    set_base(&mut cc, at_ms(0));
    for round in 0..4 {
        let before = cc.window();
        ack_one_window(&mut cc, at_ms(100 * round), None);
        assert!(
            cc.window() >= 2 * before,
            "round {round}: {} from {before}",
            cc.window()
        );
    }
}

#[test]
fn without_any_delay_sample_the_window_grows() {
    let mut cc = with_initial_packets(4);
    ack_one_window(&mut cc, at_ms(0), Some(Duration::from_millis(50)));
    assert_eq!(cc.window(), 8 * MSS);
    assert!(cc.in_slow_start());
}

#[test]
fn slow_start_exits_when_delay_passes_nine_tenths_of_target() {
    let mut cc = with_initial_packets(4);
    set_base(&mut cc, at_ms(0));
    set_delay(&mut cc, at_ms(0), TARGET_US * 9 / 10);
    ack_one_window(&mut cc, at_ms(10), None);
    assert!(
        cc.in_slow_start(),
        "exactly 0.9 * target does not end slow start"
    );
    // At the exit point slow start has tapered to a quarter of a doubling per round.
    assert_eq!(cc.window(), 5 * MSS);

    set_delay(&mut cc, at_ms(20), TARGET_US * 9 / 10 + 1);
    let before = cc.window();
    cc.on_ack(at_ms(30), MSS, before, None);
    assert!(!cc.in_slow_start());
    assert_eq!(cc.ssthresh(), before);
    // From here on LEDBAT: just under target, so a tiny gain.
    assert!(
        cc.window() >= before && cc.window() < before + 100,
        "{}",
        cc.window()
    );
}

#[test]
fn at_target_the_window_grows_by_the_fairness_gain_only() {
    // 10 packets: the gain is capped at 1/16 of the window, 625 bytes per round.
    let mut cc = with_initial_packets(10);
    set_base(&mut cc, at_ms(0));
    set_delay(&mut cc, at_ms(0), TARGET_US);
    let mut before = cc.window();
    for round in 0..5 {
        ack_one_window(&mut cc, at_ms(100 * round), None);
        let grown = cc.window() - before;
        assert!(grown * 16 <= before + 16, "round {round}: grew {grown}");
        before = cc.window();
    }
    assert!(!cc.in_slow_start());
    assert_eq!(cc.ssthresh(), 10 * MSS);
    // 400 packets: the square root of the window, 20 packets per round.
    let mut big = with_initial_packets(400);
    set_base(&mut big, at_ms(0));
    set_delay(&mut big, at_ms(0), TARGET_US);
    ack_one_window(&mut big, at_ms(100), None);
    let grown = big.window() - 400 * MSS;
    assert!((19_000..=20_000).contains(&grown), "grew {grown}");
}

#[test]
fn below_target_the_window_grows_by_at_most_the_cap_per_rtt() {
    let mut cc = with_initial_packets(20);
    set_base(&mut cc, at_ms(0));
    set_delay(&mut cc, at_ms(0), TARGET_US); // leave slow start
    cc.on_ack(at_ms(0), MSS, cc.window(), None);
    set_delay(&mut cc, at_ms(1), 0);
    let before = cc.window();
    ack_one_window(&mut cc, at_ms(100), None);
    let grown = cc.window() - before;
    assert!(grown > 2500 && grown <= 3000, "grew {grown}");
    // Half way to target, half the gain.
    set_delay(&mut cc, at_ms(150), TARGET_US / 2);
    let before = cc.window();
    ack_one_window(&mut cc, at_ms(200), None);
    let grown = cc.window() - before;
    assert!(grown > 1300 && grown <= 1500, "grew {grown}");
}

#[test]
fn far_above_target_the_window_shrinks_geometrically_but_at_most_by_half_per_rtt() {
    let mut cc = with_initial_packets(64);
    set_base(&mut cc, at_ms(0));
    // Ten times the target with a round trip of the target: the excess share of the round
    // trip is 0.9, half of it goes per round (less the small fairness gain).
    set_delay(&mut cc, at_ms(0), 10 * TARGET_US);
    let mut sizes = vec![cc.window()];
    for round in 0..12 {
        ack_one_window(&mut cc, at_ms(100 * round), None);
        sizes.push(cc.window());
    }
    for pair in sizes.windows(2) {
        assert!(
            pair[1] * 2 >= pair[0],
            "more than half in one round: {sizes:?}"
        );
    }
    for pair in sizes[..6].windows(2) {
        let ratio = pair[1] as f64 / pair[0] as f64;
        assert!((0.55..=0.65).contains(&ratio), "{sizes:?}");
    }
    assert!(sizes[12] <= 2 * MSS, "{sizes:?}");
    assert!(!cc.in_slow_start());
}

#[test]
fn slightly_above_target_the_window_shrinks_gently() {
    let mut cc = with_initial_packets(20);
    set_base(&mut cc, at_ms(0));
    set_delay(&mut cc, at_ms(0), TARGET_US * 3 / 2);
    let before = cc.window();
    ack_one_window(&mut cc, at_ms(100), None);
    // The delay is a third of the round trip above the target: a sixth of the window goes
    // per round (3333 bytes), less the fairness gain (1250): about 2100 bytes.
    let lost = before - cc.window();
    assert!(lost > 1900 && lost <= 2300, "lost {lost}");
}

#[test]
fn an_application_limited_sender_does_not_grow_but_still_shrinks() {
    let mut cc = with_initial_packets(10);
    set_base(&mut cc, at_ms(0));
    set_delay(&mut cc, at_ms(0), 0);
    for _ in 0..20 {
        cc.on_ack(at_ms(10), MSS, 4 * MSS, None);
    }
    assert_eq!(cc.window(), 10 * MSS);
    cc.on_ack(at_ms(10), MSS, 5 * MSS, None);
    assert_eq!(cc.window(), 11 * MSS);

    set_delay(&mut cc, at_ms(20), 2 * TARGET_US);
    cc.on_ack(at_ms(30), MSS, MSS, None);
    assert!(cc.window() < 11 * MSS);
}

#[test]
fn the_rtt_caps_the_delay() {
    let mut cc = with_initial_packets(10);
    set_base(&mut cc, at_ms(0));
    set_delay(&mut cc, at_ms(0), 2 * TARGET_US);
    cc.on_ack(at_ms(10), MSS, cc.window(), Some(Duration::from_millis(10)));
    assert!(cc.in_slow_start());
    // Capped at 10 ms the delay is a tenth of the target: slow start at 0.89 of its pace.
    assert_eq!(cc.window(), 10 * MSS + 888);
    cc.on_ack(at_ms(10), MSS, cc.window(), None);
    assert!(!cc.in_slow_start());
    assert!(cc.window() < 11 * MSS);
}

#[test]
fn loss_halves_once_per_rtt_however_often_reported() {
    let mut cc = with_initial_packets(40);
    let srtt = Duration::from_millis(100);
    for ms in (1000..1100).step_by(5) {
        cc.on_loss(at_ms(ms), srtt);
        assert_eq!(cc.window(), 20 * MSS);
    }
    assert!(!cc.in_slow_start());
    assert_eq!(cc.ssthresh(), 20 * MSS);
    cc.on_loss(at_ms(1100), srtt);
    assert_eq!(cc.window(), 10 * MSS);
    assert_eq!(cc.ssthresh(), 10 * MSS);
    for _ in 0..10 {
        cc.on_loss(at_ms(5000), Duration::ZERO);
    }
    assert_eq!(cc.window(), MSS);
}

#[test]
fn a_loss_uses_up_the_rounds_decrease_allowance() {
    let mut cc = with_initial_packets(40);
    set_base(&mut cc, at_ms(0));
    set_delay(&mut cc, at_ms(0), 10 * TARGET_US);
    cc.on_loss(at_ms(0), Duration::from_millis(100));
    assert_eq!(cc.window(), 20 * MSS);
    // The rest of this round (20 000 bytes) cannot shrink it further...
    for _ in 0..20 {
        cc.on_ack(at_ms(50), MSS, 20 * MSS, None);
    }
    assert_eq!(cc.window(), 20 * MSS);
    // ...the next one may halve it.
    cc.on_ack(at_ms(60), MSS, 20 * MSS, None);
    assert!(cc.window() < 20 * MSS);
    ack_one_window(&mut cc, at_ms(100), None);
    assert!(cc.window() >= 10 * MSS);
}

#[test]
fn timeouts_that_were_no_congestion_slow_start_back_to_the_old_window() {
    let mut cc = with_initial_packets(40);
    cc.on_timeout(at_ms(1000));
    cc.on_timeout(at_ms(1500));
    assert_eq!(
        cc.ssthresh(),
        MSS,
        "a second timeout leaves no room for slow start"
    );
    cc.resume_after_non_congestion_timeouts(40 * MSS);
    assert!(cc.in_slow_start());
    assert_eq!(cc.ssthresh(), 40 * MSS);
    assert_eq!(cc.window(), MSS, "the window itself still starts small");
}

#[test]
fn timeout_falls_back_to_one_packet_and_slow_starts_to_half_the_old_window() {
    let mut cc = with_initial_packets(40);
    cc.on_timeout(at_ms(1000));
    assert_eq!(cc.window(), MSS);
    assert!(cc.in_slow_start());
    assert_eq!(cc.ssthresh(), 20 * MSS);
    // A loss report right after the timeout is the same event.
    cc.on_loss(at_ms(1010), Duration::from_millis(100));
    assert_eq!(cc.window(), MSS);
    assert!(cc.in_slow_start());

    set_base(&mut cc, at_ms(1000));
    let mut t = 1100;
    while cc.in_slow_start() {
        ack_one_window(&mut cc, at_ms(t), None);
        t += 100;
        assert!(t < 3000, "slow start never ended");
    }
    assert!(
        cc.window() >= 20 * MSS && cc.window() <= 23 * MSS,
        "{}",
        cc.window()
    );
}

#[test]
fn zero_and_0x7fffffff_are_not_delay_samples() {
    let mut cc = Ledbat::new(LedbatConfig::default(), MSS);
    cc.on_delay_sample(at_ms(0), 0);
    cc.on_delay_sample(at_ms(0), NO_SAMPLE_ALT);
    assert_eq!(cc.queuing_delay(), None);
    cc.on_delay_sample(at_ms(0), 7);
    assert_eq!(cc.queuing_delay(), Some(Duration::ZERO));
}

#[test]
fn peer_base_drops_shift_our_base_to_compensate_skew() {
    let mut cc = Ledbat::new(LedbatConfig::default(), MSS);
    cc.on_delay_sample(at_ms(0), 10_000);
    for _ in 0..3 {
        cc.on_delay_sample(at_ms(1), 15_000);
    }
    assert_eq!(cc.queuing_delay(), Some(Duration::from_micros(5_000)));

    cc.on_peer_delay_sample(at_ms(0), 200_000);
    cc.on_peer_delay_sample(at_ms(1), 0); // no sample
    cc.on_peer_delay_sample(at_ms(1), 203_000); // a rise changes nothing
    assert_eq!(cc.queuing_delay(), Some(Duration::from_micros(5_000)));
    cc.on_peer_delay_sample(at_ms(2), 196_000); // 4 ms drop: shift ours up by 4 ms
    assert_eq!(cc.queuing_delay(), Some(Duration::from_micros(1_000)));
    cc.on_peer_delay_sample(at_ms(3), 196_000 - 10_000); // exactly 10 ms: still a skew
    assert_eq!(cc.queuing_delay(), Some(Duration::ZERO));

    let mut cc2 = Ledbat::new(LedbatConfig::default(), MSS);
    cc2.on_delay_sample(at_ms(0), 10_000);
    for _ in 0..3 {
        cc2.on_delay_sample(at_ms(1), 15_000);
    }
    cc2.on_peer_delay_sample(at_ms(0), 200_000);
    cc2.on_peer_delay_sample(at_ms(2), 200_000 - 10_001); // a route change, not skew
    assert_eq!(cc2.queuing_delay(), Some(Duration::from_micros(5_000)));
}

#[test]
fn skew_compensation_across_the_wrap() {
    let mut cc = Ledbat::new(LedbatConfig::default(), MSS);
    cc.on_delay_sample(at_ms(0), u32::MAX - 100);
    for _ in 0..3 {
        cc.on_delay_sample(at_ms(1), 2_899); // 3000 above the base, across the wrap
    }
    assert_eq!(cc.queuing_delay(), Some(Duration::from_micros(3_000)));
    cc.on_peer_delay_sample(at_ms(0), 1_000);
    cc.on_peer_delay_sample(at_ms(1), u32::MAX - 999); // a 2000 µs drop across the wrap
    assert_eq!(cc.queuing_delay(), Some(Duration::from_micros(1_000)));
}

#[test]
fn a_peer_clock_running_slow_earns_a_delay_penalty() {
    let mut cc = with_initial_packets(20);
    // Our-direction samples fall by 400 ms per second: 2 000 000 µs per 5 s.
    let mut t = 0u64;
    while t < 60_000 {
        let sample = 3_000_000_000u32.wrapping_sub((t * 400) as u32);
        cc.on_delay_sample(at_ms(t), sample);
        t += 100;
    }
    // Every sample is a new minimum, so the measured queuing delay is zero...
    assert_eq!(cc.queuing_delay(), Some(Duration::ZERO));
    // ...but the drift gives a penalty above the target.
    assert!(cc.clock_drift() < -1_400_000, "drift {}", cc.clock_drift());
    let penalty = cc.drift_penalty();
    assert_eq!(
        penalty,
        Duration::from_micros(((-cc.clock_drift() - 200_000) / 7) as u64)
    );
    assert!(
        penalty > Duration::from_micros(u64::from(TARGET_US)),
        "{penalty:?}"
    );
    let before = cc.window();
    cc.on_ack(at_ms(t), MSS, before, None);
    assert!(!cc.in_slow_start());
    assert!(cc.window() < before);
}

#[test]
fn steady_delay_has_no_penalty() {
    let mut cc = with_initial_packets(20);
    let mut t = 0u64;
    while t < 60_000 {
        cc.on_delay_sample(at_ms(t), BASE + (t % 300) as u32);
        t += 100;
    }
    assert_eq!(cc.drift_penalty(), Duration::ZERO);
    assert!(cc.clock_drift().abs() < 1_000);
}

#[test]
fn mss_and_cap_changes_respect_the_bounds() {
    let mut cc = with_initial_packets(20);
    cc.set_max_cwnd(5 * MSS);
    assert_eq!(cc.window(), 5 * MSS);
    cc.set_max_cwnd(0);
    assert_eq!((cc.min_window(), cc.max_window(), cc.window()), (1, 1, 1));
    cc.set_max_cwnd(100 * MSS);
    assert_eq!(cc.window(), MSS);
    cc.set_mss(3 * MSS);
    assert_eq!(cc.window(), 3 * MSS);
    assert_eq!(cc.mss(), 3 * MSS);
    cc.set_mss(0);
    assert_eq!(cc.min_window(), 1);
}

#[test]
fn the_base_delay_expires_after_thirteen_minutes() {
    let mut cc = with_initial_packets(10);
    cc.on_delay_sample(at_ms(0), BASE);
    // The path got 30 ms longer for good: at first that reads as queuing.
    let mut t = 1_000;
    while t < 13 * 60_000 {
        cc.on_delay_sample(at_ms(t), BASE + 30_000);
        t += 1_000;
    }
    assert_eq!(cc.queuing_delay(), Some(Duration::from_millis(30)));
    cc.on_delay_sample(at_ms(13 * 60_000), BASE + 30_000);
    assert_eq!(cc.queuing_delay(), Some(Duration::ZERO));
}

#[derive(Debug, Clone)]
enum Event {
    Sample(u32),
    PeerSample(u32),
    Ack {
        bytes: usize,
        flight: usize,
        rtt: Option<u64>,
    },
    Loss(u64),
    Timeout,
    Mss(usize),
    Cap(usize),
    Wait(u64),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => any::<u32>().prop_map(Event::Sample),
        1 => any::<u32>().prop_map(Event::PeerSample),
        6 => (0usize..200_000, 0usize..2_000_000, proptest::option::of(0u64..5_000_000))
            .prop_map(|(bytes, flight, rtt)| Event::Ack { bytes, flight, rtt }),
        1 => (0u64..1_000_000).prop_map(Event::Loss),
        1 => Just(Event::Timeout),
        1 => (0usize..70_000).prop_map(Event::Mss),
        1 => (0usize..4_000_000).prop_map(Event::Cap),
        2 => (0u64..120_000_000).prop_map(Event::Wait),
    ]
}

proptest! {
    #[test]
    // Up to 200 controller events per case: the slowest engine test under Miri (minutes even
    // at a few cases), and the controller is safe code with no allocation to check.
    #[cfg_attr(miri, ignore)]
    fn window_never_leaves_its_bounds(
        mss in 0usize..70_000,
        initial in 0usize..100,
        min_packets in 0usize..5,
        cap in 0usize..4_000_000,
        target_ms in 0u64..1_000,
        events in proptest::collection::vec(event(), 0..200),
    ) {
        let config = LedbatConfig {
            target: Duration::from_millis(target_ms),
            max_cwnd: cap,
            min_cwnd_packets: min_packets,
            initial_window_packets: initial,
            ..LedbatConfig::default()
        };
        let mut cc = Ledbat::new(config, mss);
        let mut now = Instant::ZERO;
        for ev in events {
            match ev {
                Event::Sample(s) => cc.on_delay_sample(now, s),
                Event::PeerSample(s) => cc.on_peer_delay_sample(now, s),
                Event::Ack { bytes, flight, rtt } => {
                    cc.on_ack(now, bytes, flight, rtt.map(Duration::from_micros));
                }
                Event::Loss(srtt) => cc.on_loss(now, Duration::from_micros(srtt)),
                Event::Timeout => cc.on_timeout(now),
                Event::Mss(m) => cc.set_mss(m),
                Event::Cap(c) => cc.set_max_cwnd(c),
                Event::Wait(us) => now += Duration::from_micros(us),
            }
            prop_assert!(cc.min_window() >= 1);
            prop_assert!(cc.min_window() <= cc.max_window());
            prop_assert!(
                cc.window() >= cc.min_window() && cc.window() <= cc.max_window(),
                "window {} outside [{}, {}]", cc.window(), cc.min_window(), cc.max_window()
            );
            prop_assert!(cc.ssthresh() >= 1);
        }
    }
}

#[test]
fn a_spurious_cut_can_be_undone_once() {
    let mut cc = Ledbat::new(LedbatConfig::default(), 1000);
    let t0 = Instant::from_micros(1_000_000);
    for i in 0..20 {
        cc.on_ack(t0 + Duration::from_millis(i), 1000, cc.window(), None);
    }
    let before = cc.window();
    cc.on_loss(t0 + Duration::from_secs(1), Duration::from_millis(50));
    assert!(cc.window() < before);
    cc.undo_last_cut();
    assert_eq!(cc.window(), before);
    assert!(cc.in_slow_start());
    cc.undo_last_cut();
    assert_eq!(cc.window(), before, "a second undo changes nothing");
    cc.on_timeout(t0 + Duration::from_secs(2));
    assert_eq!(cc.window(), cc.min_window());
    cc.undo_last_cut();
    assert_eq!(
        cc.window(),
        before,
        "a spurious timeout does not collapse the window"
    );
}

#[test]
fn a_queuing_delay_beyond_the_round_trip_restarts_the_delay_base() {
    let mut cc = with_initial_packets(4);
    set_base(&mut cc, at_ms(0));
    // A 50 ms round trip is known.
    cc.on_ack(at_ms(10), MSS, 4 * MSS, Some(Duration::from_millis(50)));
    // A real queue (within the round trip) is believed, however long it lasts.
    for i in 0..20 {
        cc.on_delay_sample(at_ms(20 + i), BASE + 40_000);
    }
    assert_eq!(cc.queuing_delay(), Some(Duration::from_millis(40)));
    // The sender's clock steps back 10 s: every sample is now 10 s above the base. The
    // filter (minimum of the last 3) shows it from the third such sample on; seven impossible
    // filtered values in a row are not enough to give up the base...
    let stepped = BASE + 10_000_000;
    for i in 0..9 {
        cc.on_delay_sample(at_ms(100 + i), stepped);
    }
    assert_eq!(cc.queuing_delay(), Some(Duration::from_secs(10)));
    assert!(!cc.take_base_restart());
    // ...the eighth restarts the history from the new level, and says so once (the
    // connection then forgets its smallest RTT).
    cc.on_delay_sample(at_ms(109), stepped);
    assert_eq!(cc.queuing_delay(), Some(Duration::ZERO));
    assert!(cc.take_base_restart());
    assert!(!cc.take_base_restart());
    // The queue is measured from the new base afterwards.
    for i in 0..3 {
        cc.on_delay_sample(at_ms(110 + i), stepped + 20_000);
    }
    assert_eq!(cc.queuing_delay(), Some(Duration::from_millis(20)));
}

#[test]
fn a_newcomer_on_the_same_path_takes_half_the_window_and_the_delay_base() {
    let mut old = with_initial_packets(100);
    set_base(&mut old, at_ms(0));
    set_delay(&mut old, at_ms(0), TARGET_US);
    ack_one_window(&mut old, at_ms(10), Some(Duration::from_millis(150)));
    assert!(!old.in_slow_start());
    let old_window = old.window();
    let mut new = with_initial_packets(2);
    new.inherit_delay_base(&old);
    // The queue the old connection keeps is queue to the newcomer too, not base.
    new.on_delay_sample(at_ms(20), BASE + TARGET_US);
    assert_eq!(
        new.queuing_delay(),
        Some(Duration::from_micros(u64::from(TARGET_US)))
    );
    new.take_share_of(&mut old);
    assert_eq!(old.window(), old_window / 2);
    assert_eq!(new.window(), old_window / 2);
    assert!(!new.in_slow_start());
    // A connection still in slow start has not measured the path: nothing is taken.
    let mut starting = with_initial_packets(100);
    let mut other = with_initial_packets(2);
    other.take_share_of(&mut starting);
    assert_eq!(starting.window(), 100 * MSS);
    assert_eq!(other.window(), 2 * MSS);
}

#[test]
// 800 control rounds of up to 1200 ACKs each: several minutes under Miri, all safe code.
#[cfg_attr(miri, ignore)]
fn connections_sharing_a_queue_converge_to_equal_windows() {
    // Two controllers whose ACKs see the same queue: a fluid model of a 100 Mbit/s, 20 ms
    // path. Each round both acknowledge their window; the queue holds what exceeds the
    // bandwidth-delay product.
    let rate = 12_500.0; // bytes per ms
    let base_rtt = 20.0;
    let mut a = with_initial_packets(1200);
    let mut b = with_initial_packets(50);
    for cc in [&mut a, &mut b] {
        set_base(cc, at_ms(0));
        set_delay(cc, at_ms(0), TARGET_US);
    }
    for round in 0..400u64 {
        let total = (a.window() + b.window()) as f64;
        let queue_ms = ((total - rate * base_rtt) / rate).max(0.0);
        let rtt = Duration::from_micros(((base_rtt + queue_ms) * 1000.0) as u64);
        let now = at_ms(round * 100);
        for cc in [&mut a, &mut b] {
            for _ in 0..3 {
                cc.on_delay_sample(now, BASE + (queue_ms * 1000.0) as u32);
            }
            ack_one_window(cc, now, Some(rtt));
        }
    }
    let (wa, wb) = (a.window() as f64, b.window() as f64);
    assert!(
        (wa / wb - 1.0).abs() < 0.1,
        "windows {wa} and {wb} did not converge"
    );
}

#[test]
fn ledbat_plus_plus_starts_slower_and_steps_aside_periodically() {
    let config = LedbatConfig {
        plus_plus: true,
        initial_window_packets: 10,
        ..LedbatConfig::default()
    };
    let mut cc = Ledbat::new(config, MSS);
    set_base(&mut cc, at_ms(0));
    set_delay(&mut cc, at_ms(0), 0);
    // 20 ms base RTT against a 100 ms target: slow start adds a tenth of what is acked (the
    // additive gain, 3000 bytes per round, is larger here); plain slow start would double.
    let rtt = Some(Duration::from_millis(20));
    ack_one_window(&mut cc, at_ms(20), rtt);
    assert!(
        cc.window() > 10 * MSS && cc.window() <= 13 * MSS,
        "{}",
        cc.window()
    );
    // 3/4 of the target ends slow start (plain LEDBAT would go on to 0.9).
    set_delay(&mut cc, at_ms(30), TARGET_US * 8 / 10);
    cc.on_ack(
        at_ms(40),
        MSS,
        cc.window(),
        Some(Duration::from_millis(100)),
    );
    assert!(!cc.in_slow_start());
    let held = cc.window();
    // Two round trips later the window steps aside to two packets for two round trips...
    cc.on_ack(
        at_ms(240),
        MSS,
        cc.window(),
        Some(Duration::from_millis(100)),
    );
    assert_eq!(cc.window(), 2 * MSS);
    cc.on_ack(
        at_ms(300),
        MSS,
        cc.window(),
        Some(Duration::from_millis(100)),
    );
    assert_eq!(cc.window(), 2 * MSS, "held during the slowdown");
    // ...then slow-starts back towards the window it had.
    set_delay(&mut cc, at_ms(440), 0);
    cc.on_ack(
        at_ms(441),
        MSS,
        cc.window(),
        Some(Duration::from_millis(100)),
    );
    assert!(cc.in_slow_start());
    let mut t = 450;
    while cc.in_slow_start() {
        ack_one_window(&mut cc, at_ms(t), Some(Duration::from_millis(100)));
        t += 100;
        assert!(t < 20_000, "never regrew");
    }
    assert!(
        cc.window() >= held && cc.window() <= held + 2 * MSS,
        "{} vs {held}",
        cc.window()
    );
    // Plain LEDBAT never does this.
    let mut plain = with_initial_packets(10);
    set_base(&mut plain, at_ms(0));
    set_delay(&mut plain, at_ms(0), TARGET_US * 8 / 10);
    cc.on_ack(
        at_ms(0),
        MSS,
        plain.window(),
        Some(Duration::from_millis(100)),
    );
    for ms in (100..2000).step_by(100) {
        plain.on_ack(
            at_ms(ms),
            MSS,
            plain.window(),
            Some(Duration::from_millis(100)),
        );
        assert!(plain.window() >= 10 * MSS);
    }
}

#[test]
fn a_window_unused_for_five_minutes_is_halved_each_period() {
    let mut cc = with_initial_packets(2);
    set_base(&mut cc, at_ms(0));
    set_delay(&mut cc, at_ms(0), 0);
    while cc.window() < 64 * MSS {
        ack_one_window(&mut cc, at_ms(0), None);
    }
    let full = cc.window();
    // In use: nothing happens however long.
    cc.validate(at_ms(0), full);
    cc.validate(at_ms(1_000_000), full);
    assert_eq!(cc.window(), full);
    // Unused (one packet in flight) for less than the period: kept.
    cc.validate(at_ms(1_100_000), MSS);
    cc.validate(at_ms(1_299_000), MSS);
    assert_eq!(cc.window(), full);
    // Past it: halved, ssthresh at 3/4 of the old window, and again a period later.
    cc.validate(at_ms(1_300_001), MSS);
    assert_eq!(cc.window(), full / 2);
    assert!(cc.ssthresh() >= full * 3 / 4);
    cc.validate(at_ms(1_400_000), MSS);
    assert_eq!(cc.window(), full / 2);
    cc.validate(at_ms(1_600_002), MSS);
    assert_eq!(cc.window(), full / 4);
    // Never below the initial window.
    for i in 0..20 {
        cc.validate(at_ms(2_000_000 + i * 300_001), 0);
    }
    assert_eq!(cc.window(), 2 * MSS);
}
