//! `Event::Confirmed`: an accepted connection is reported confirmed when the peer acknowledges
//! our SYN-ACK (our initiators do at once), or after `Config::confirm_timeout` when the
//! initiator stays silent (libutp's), and never when it is evicted first (a spoofed SYN).

use super::test_support::{a, b, ms, syn};
use super::*;
use crate::proto::ConnectionError;
use core::time::Duration;

fn events(e: &mut Endpoint) -> Vec<(ConnectionHandle, Event)> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

fn accept_syn(eb: &mut Endpoint, from: SocketAddr, id: u16, now: Instant) -> ConnectionHandle {
    match eb.handle_datagram(now, from, &syn(id, 500)) {
        DatagramEvent::Incoming(i) => eb.accept(now, i).expect("accept"),
        other => panic!("a SYN gave {other:?}"),
    }
}

#[test]
fn our_initiator_confirms_the_connection_within_one_round_trip() {
    let mut ea = Endpoint::new(Config::default(), 1).expect("endpoint");
    let mut eb = Endpoint::new(Config::default(), 2).expect("endpoint");
    ea.connect(ms(0), b()).expect("connect");
    let mut buf = vec![0u8; 2048];
    let mut hb = None;
    for step in 0..4 {
        let now = ms(step * 10);
        while let Some(t) = ea.poll_transmit(now, &mut buf) {
            if let DatagramEvent::Incoming(i) = eb.handle_datagram(now, a(), &buf[..t.len]) {
                hb = Some(eb.accept(now, i).expect("accept"));
            }
        }
        while let Some(t) = eb.poll_transmit(now, &mut buf) {
            ea.handle_datagram(now, b(), &buf[..t.len]);
        }
    }
    let hb = hb.expect("accepted");
    assert!(!eb.is_half_open(hb));
    assert!(events(&mut eb).contains(&(hb, Event::Confirmed)));
}

#[test]
fn a_silent_initiator_is_confirmed_after_the_timeout() {
    let config = Config::default();
    let mut eb = Endpoint::new(config.clone(), 2).expect("endpoint");
    let hb = accept_syn(&mut eb, a(), 77, ms(0));
    assert_eq!(events(&mut eb), vec![(hb, Event::Connected)]);
    let timeout_ms = config.confirm_timeout.as_millis() as u64;
    eb.handle_timeout(ms(timeout_ms - 1));
    assert!(
        !events(&mut eb).contains(&(hb, Event::Confirmed)),
        "too early"
    );
    eb.handle_timeout(ms(timeout_ms));
    assert_eq!(events(&mut eb), vec![(hb, Event::Confirmed)]);
    eb.handle_timeout(ms(10 * timeout_ms));
    assert!(
        !events(&mut eb).contains(&(hb, Event::Confirmed)),
        "reported once"
    );
}

#[test]
fn an_evicted_half_open_connection_is_never_confirmed() {
    let config = Config {
        max_half_open: 2,
        confirm_timeout: Duration::from_millis(100),
        ..Config::default()
    };
    let mut eb = Endpoint::new(config, 2).expect("endpoint");
    let first = accept_syn(&mut eb, a(), 10, ms(0));
    accept_syn(&mut eb, a(), 20, ms(1));
    accept_syn(&mut eb, a(), 30, ms(2)); // evicts the first
    let evs = events(&mut eb);
    assert!(
        evs.contains(&(first, Event::Error(ConnectionError::Evicted))),
        "{evs:?}"
    );
    eb.handle_timeout(ms(500));
    let evs = events(&mut eb);
    assert!(!evs.contains(&(first, Event::Confirmed)), "{evs:?}");
    assert_eq!(
        evs.iter().filter(|(_, e)| *e == Event::Confirmed).count(),
        2,
        "the two survivors are confirmed by the timeout: {evs:?}"
    );
}
