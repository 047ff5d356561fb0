//! Wakers of tasks waiting on a managed socket: the async stream API's counterpart of
//! [`super::driver::Shared::changed`].
//!
//! A task that finds nothing to do (no bytes to read, a full send buffer, a handshake in
//! progress, an empty accept queue) registers its waker here with the state lock held, and
//! whoever applies the engine's events under the same lock wakes it. Checking and registering
//! under one lock is what keeps wake-ups from being lost.
//!
//! Invariants:
//! - Which events wake which waiters is decided in one place, [`Wakers::on_event`]: `Readable`,
//!   `Eof`, `Error` and `Closed` wake readers; `Writable`, `Error` and `Closed` wake writers;
//!   `Connected`, `Error` and `Closed` wake connectors.
//! - A slot holds each task's waker once (`Waker::will_wake`), so a task that polls again and
//!   again (a read cancelled by a timeout, then retried) does not grow it. Every wake empties
//!   the slot: a woken task registers again if it still has to wait.
//! - Wakers are woken with the state lock held. Executors' wakers only schedule the task, so
//!   this does not re-enter the lock; the woken task takes it once the waker returns.

use crate::proto::HandleMap;
use crate::proto::{ConnectionHandle, Event};
use std::task::Waker;

/// What a task waits for on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Bytes to read, the end of the stream, or its failure.
    Read,
    /// Room in the send buffer, or the connection's failure.
    Write,
    /// The outcome of an outgoing handshake.
    Connect,
}

/// The wakers waiting for one thing.
#[derive(Default)]
struct Slot(Vec<Waker>);

impl Slot {
    fn register(&mut self, waker: &Waker) {
        if !self.0.iter().any(|w| w.will_wake(waker)) {
            self.0.push(waker.clone());
        }
    }

    fn wake(&mut self) {
        for w in self.0.drain(..) {
            w.wake();
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The waiters of one connection.
#[derive(Default)]
struct ConnWakers {
    read: Slot,
    write: Slot,
    connect: Slot,
}

impl ConnWakers {
    fn slot(&mut self, interest: Interest) -> &mut Slot {
        match interest {
            Interest::Read => &mut self.read,
            Interest::Write => &mut self.write,
            Interest::Connect => &mut self.connect,
        }
    }

    fn wake_all(&mut self) {
        self.read.wake();
        self.write.wake();
        self.connect.wake();
    }

    fn is_empty(&self) -> bool {
        self.read.is_empty() && self.write.is_empty() && self.connect.is_empty()
    }
}

/// Every waiting task of one socket, kept in its `State` under the state lock.
#[derive(Default)]
pub struct Wakers {
    conns: HandleMap<ConnWakers>,
    accept: Slot,
}

impl Wakers {
    /// Wakes `waker` when something of `interest` happens on connection `h`.
    pub fn register(&mut self, h: ConnectionHandle, interest: Interest, waker: &Waker) {
        self.conns
            .entry(h)
            .or_default()
            .slot(interest)
            .register(waker);
    }

    /// Wakes `waker` when a connection joins the accept queue.
    pub fn register_accept(&mut self, waker: &Waker) {
        self.accept.register(waker);
    }

    /// Wakes the waiters that `event` on connection `h` concerns.
    pub fn on_event(&mut self, h: ConnectionHandle, event: Event) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        match event {
            Event::Readable | Event::Eof => c.read.wake(),
            Event::Writable | Event::Flushed => c.write.wake(),
            Event::Connected | Event::Confirmed => c.connect.wake(),
            Event::Error(_) | Event::Closed => c.wake_all(),
        }
        // Closed is a connection's last event: nothing waits on it afterwards.
        if event == Event::Closed || c.is_empty() {
            self.conns.remove(&h);
        }
    }

    /// A connection joined the accept queue.
    pub fn wake_acceptors(&mut self) {
        self.accept.wake();
    }

    /// The socket is closing or its driver stopped: every waiter re-checks.
    pub fn wake_all(&mut self) {
        self.accept.wake();
        for (_, mut c) in self.conns.drain() {
            c.wake_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ConnectionError;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    /// A waker that counts its wake-ups.
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let c = Arc::new(Counter(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn woken(c: &Counter) -> usize {
        c.0.load(Ordering::SeqCst)
    }

    /// Waits on `interest` of connection `h` with a fresh waker, applies `event`, and reports
    /// whether the waker was woken.
    fn wakes(interest: Interest, event: Event) -> bool {
        let h = ConnectionHandle(7);
        let mut w = Wakers::default();
        let (c, waker) = counter();
        w.register(h, interest, &waker);
        w.on_event(h, event);
        woken(&c) == 1
    }

    #[test]
    fn each_event_wakes_the_waiters_it_concerns() {
        use Interest::*;
        let error = Event::Error(ConnectionError::Reset);
        for (interest, event, expected) in [
            (Read, Event::Readable, true),
            (Read, Event::Eof, true),
            (Read, error, true),
            (Read, Event::Closed, true),
            (Read, Event::Writable, false),
            (Read, Event::Connected, false),
            (Write, Event::Writable, true),
            (Write, error, true),
            (Write, Event::Closed, true),
            (Write, Event::Readable, false),
            (Write, Event::Eof, false),
            (Connect, Event::Connected, true),
            (Connect, error, true),
            (Connect, Event::Closed, true),
            (Connect, Event::Readable, false),
        ] {
            assert_eq!(
                wakes(interest, event),
                expected,
                "{interest:?} on {event:?}"
            );
        }
    }

    #[test]
    fn a_task_registered_twice_is_woken_once_and_the_slot_empties() {
        let h = ConnectionHandle(1);
        let mut w = Wakers::default();
        let (c, waker) = counter();
        w.register(h, Interest::Read, &waker);
        w.register(h, Interest::Read, &waker);
        w.on_event(h, Event::Readable);
        w.on_event(h, Event::Readable);
        assert_eq!(woken(&c), 1);
        assert!(w.conns.is_empty());
    }

    #[test]
    fn events_of_other_connections_wake_nobody() {
        let mut w = Wakers::default();
        let (c, waker) = counter();
        w.register(ConnectionHandle(1), Interest::Read, &waker);
        w.on_event(ConnectionHandle(2), Event::Readable);
        assert_eq!(woken(&c), 0);
    }

    #[test]
    fn closing_the_socket_wakes_everyone() {
        let mut w = Wakers::default();
        let (c, waker) = counter();
        w.register(ConnectionHandle(1), Interest::Read, &waker);
        w.register(ConnectionHandle(2), Interest::Write, &waker);
        w.register_accept(&waker);
        w.wake_all();
        assert_eq!(woken(&c), 3);
        w.wake_all();
        assert_eq!(woken(&c), 3, "slots empty after waking");
    }
}
