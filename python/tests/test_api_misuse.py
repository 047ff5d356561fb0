"""API misuse as tables (issue 8): every row is a call in a wrong situation and the outcome the
package documents (python/rutp/streams.py, context.py, csocket.py and the README's Python
section): built-in exceptions (``OSError(EBADF)`` after ``close``, ``TypeError``/``ValueError``
for bad arguments before anything reaches C, ``ConnectionRefusedError``, ``BrokenPipeError``,
``BlockingIOError``/``TimeoutError`` for timeouts, ``RuntimeError`` for closing a Context from
its own callbacks) or a plain value. After every row a healthy connection of the same sockets
(or contexts) moves data both ways and every byte is checked.
"""

from __future__ import annotations

import errno
import socket
import threading
from typing import Any, Callable, List, Optional, Tuple

import pytest

import rutp
from rutp._ffi import Callback, Option, State
from udp_loop import Endpoint, run_until


def pattern(key: int, offset: int, length: int) -> bytes:
    return bytes(((offset + i) * 131 + key) & 0xFF for i in range(length))


# ---- the managed API: rutp.Socket and rutp.Stream ---------------------------------------------

class Managed:
    """Two Sockets with a healthy Stream pair between them."""

    def __init__(self) -> None:
        self.server = rutp.Socket()
        self.client = rutp.Socket()
        self.a = self.client.connect(self.server.getsockname(), timeout=10)
        self.b, _ = self.server.accept(timeout=10)
        self.offset = 0
        self.keep: List[rutp.Stream] = []

    def pair(self) -> Tuple[rutp.Stream, rutp.Stream]:
        a = self.client.connect(self.server.getsockname(), timeout=10)
        b, _ = self.server.accept(timeout=10)
        return a, b

    def check_healthy(self) -> None:
        length = 32 * 1024
        for key, (src, dst) in enumerate(((self.a, self.b), (self.b, self.a))):
            data = pattern(key, self.offset, length)
            src.settimeout(10)
            dst.settimeout(10)
            src.sendall(data)
            got = b""
            while len(got) < length:
                chunk = dst.recv(length - len(got))
                assert chunk, "the healthy stream ended"
                got += chunk
            assert got == data, "the healthy stream corrupted data"
        self.offset += length

    def close(self) -> None:
        self.client.close()
        self.server.close()


@pytest.fixture(scope="module")
def managed():
    m = Managed()
    yield m
    m.close()


def fresh(m: Managed) -> rutp.Stream:
    """A new stream whose peer stays open (kept on the fixture)."""
    a, b = m.pair()
    m.keep.append(b)
    return a


def closed_port() -> Tuple[str, int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()


def closed_stream(m: Managed) -> rutp.Stream:
    a, b = m.pair()
    a.close()
    b.close()
    return a


def orphaned_stream(m: Managed) -> rutp.Stream:
    """A stream whose Socket was closed explicitly."""
    third = rutp.Socket()
    s = third.connect(m.server.getsockname(), timeout=10)
    peer, _ = m.server.accept(timeout=10)
    third.close()
    peer.close()
    return s


def closed_socket() -> rutp.Socket:
    s = rutp.Socket()
    s.close()
    return s


def shut(how: int) -> Callable[[Managed], rutp.Stream]:
    def make(m: Managed) -> rutp.Stream:
        a = fresh(m)
        a.shutdown(how)
        return a
    return make


def blocked_recv_closed_from_another_thread(m: Managed) -> Any:
    a, _b = m.pair()
    a.settimeout(None)
    outcome: List[BaseException] = []
    started = threading.Event()

    def reader() -> None:
        started.set()
        try:
            a.recv(100)
        except BaseException as e:  # noqa: BLE001 - the outcome is what the row checks
            outcome.append(e)

    t = threading.Thread(target=reader)
    t.start()
    started.wait()
    threading.Timer(0.1, a.close).start()
    t.join(10)
    assert not t.is_alive(), "close did not end the blocked recv"
    raise outcome[0] if outcome else AssertionError("recv returned")


def clones_in_threads(m: Managed) -> int:
    """One stream shared by a sender thread and a receiver thread each way, 256 KiB each."""
    a, b = m.pair()
    length = 256 * 1024
    results: List[bool] = []

    def send(s: rutp.Stream, key: int) -> None:
        s.sendall(pattern(key, 0, length))

    def receive(s: rutp.Stream, key: int) -> None:
        got = bytearray()
        while len(got) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        results.append(bytes(got) == pattern(key, 0, length))

    for s in (a, b):
        s.settimeout(20)
    threads = [threading.Thread(target=f, args=args) for f, args in (
        (send, (a, 1)), (send, (b, 2)), (receive, (b, 1)), (receive, (a, 2)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return sum(results)


EBADF = (OSError, errno.EBADF)

# (name, make the object, the call, the expected exception (type, errno or None) or value)
STREAM_ROWS: List[Tuple[str, Callable[[Managed], Any], Callable[[Any], Any], Any]] = [
    ("connect to a closed port", lambda m: m.client,
     lambda s: s.connect(closed_port(), timeout=5), (ConnectionRefusedError, None)),
    ("send after close", closed_stream, lambda s: s.send(b"x"), EBADF),
    ("sendall after close", closed_stream, lambda s: s.sendall(b"x"), EBADF),
    ("recv after close", closed_stream, lambda s: s.recv(10), EBADF),
    ("recv_into after close", closed_stream, lambda s: s.recv_into(bytearray(4)), EBADF),
    ("shutdown after close", closed_stream, lambda s: s.shutdown(socket.SHUT_WR), EBADF),
    ("finish after close", closed_stream, lambda s: s.finish(), EBADF),
    ("getpeername after close", closed_stream, lambda s: s.getpeername(), EBADF),
    ("stats after close", closed_stream, lambda s: s.stats(), EBADF),
    ("close twice", closed_stream, lambda s: s.close(), None),
    ("recv with a negative size", fresh, lambda s: s.recv(-1), (ValueError, None)),
    ("recv with a str size", fresh, lambda s: s.recv("10"), (TypeError, None)),
    ("recv(0)", fresh, lambda s: s.recv(0), b""),
    ("recv_into a read-only buffer", fresh,
     lambda s: s.recv_into(b"immutable"), (TypeError, None)),
    ("recv_into with a negative nbytes", fresh,
     lambda s: s.recv_into(bytearray(4), -1), (ValueError, None)),
    ("send of a str", fresh, lambda s: s.send("text"), (TypeError, None)),
    ("send of nothing", fresh, lambda s: s.send(b""), 0),
    ("send with flags", fresh, lambda s: s.send(b"x", 1), (ValueError, None)),
    ("shutdown with a bad how", fresh, lambda s: s.shutdown(7), (ValueError, None)),
    ("shutdown with a str how", fresh, lambda s: s.shutdown("r"), (TypeError, None)),
    ("settimeout(-1)", fresh, lambda s: s.settimeout(-1), (ValueError, None)),
    ("settimeout('1')", fresh, lambda s: s.settimeout("1"), (TypeError, None)),
    ("recv, non-blocking, nothing there", fresh,
     lambda s: (s.settimeout(0), s.recv(10)), (BlockingIOError, None)),
    ("recv with a 50 ms timeout, nothing there", fresh,
     lambda s: (s.settimeout(0.05), s.recv(10)), (TimeoutError, None)),
    ("send after shutdown(SHUT_WR)", shut(socket.SHUT_WR), lambda s: s.send(b"x"),
     (BrokenPipeError, None)),
    ("recv after shutdown(SHUT_RD): end of stream", shut(socket.SHUT_RD),
     lambda s: (s.settimeout(5), s.recv(10))[1], b""),
    ("recv after the stream's Socket is closed", orphaned_stream, lambda s: s.recv(10), EBADF),
    ("send after the stream's Socket is closed", orphaned_stream, lambda s: s.send(b"x"), EBADF),
    ("accept on a closed Socket", lambda m: closed_socket(), lambda s: s.accept(timeout=1), EBADF),
    ("connect from a closed Socket", lambda m: closed_socket(),
     lambda s: s.connect(("127.0.0.1", 9), timeout=1), EBADF),
    ("getsockname of a closed Socket", lambda m: closed_socket(), lambda s: s.getsockname(), EBADF),
    ("Socket bound to port 70000", lambda m: None,
     lambda _: rutp.Socket(("127.0.0.1", 70000)), (ValueError, None)),
    ("Socket bound to a str", lambda m: None, lambda _: rutp.Socket("127.0.0.1"), (TypeError, None)),
    ("a recv blocked in another thread when the stream is closed", lambda m: m,
     blocked_recv_closed_from_another_thread, EBADF),
    ("one stream shared by four threads", lambda m: m, clones_in_threads, 2),
]


def check_row(subject: Any, call: Callable[[Any], Any], want: Any) -> None:
    if isinstance(want, tuple) and len(want) == 2 and isinstance(want[0], type):
        kind, number = want
        with pytest.raises(kind) as info:
            call(subject)
        if number is not None:
            assert info.value.errno == number, f"errno {info.value.errno}, expected {number}"
    else:
        assert call(subject) == want


@pytest.mark.parametrize("name, make, call, want", STREAM_ROWS, ids=[r[0] for r in STREAM_ROWS])
def test_stream_misuse(managed, name, make, call, want) -> None:
    check_row(make(managed), call, want)
    managed.check_healthy()


# ---- the callback API: rutp.Context and rutp.CSocket ------------------------------------------

class Loop:
    """Two Endpoints (udp_loop) with a healthy connection a -> b checked byte for byte."""

    def __init__(self) -> None:
        self.a, self.b = Endpoint(), Endpoint()
        self.accepted: List[rutp.CSocket] = []
        self.received: List[bytes] = []
        self.hook: Optional[Callable[[str, rutp.CSocket], None]] = None
        self.b.ctx.on_accept(self._accept)
        self.b.ctx.on_read(self._read)
        self.a.ctx.on_state_change(self._state)
        self.connected: List[rutp.CSocket] = []
        self.healthy = self.connect()
        self.healthy_peer = self.accepted[-1]
        self.sent = 0

    def _accept(self, sock: rutp.CSocket, addr: Any) -> None:
        self.accepted.append(sock)
        if self.hook:
            self.hook("accept", sock)

    def _read(self, sock: rutp.CSocket, data: bytes) -> None:
        if sock is self.accepted[0]:
            self.received.append(data)
        if self.hook:
            self.hook("read", sock)

    def _state(self, sock: rutp.CSocket, state: State) -> None:
        if state == State.UTP_STATE_CONNECT:
            self.connected.append(sock)
        if self.hook:
            self.hook("state", sock)

    def run(self, done: Callable[[], bool], timeout: float = 10) -> None:
        run_until([self.a, self.b], done, timeout=timeout)

    def connect(self) -> rutp.CSocket:
        sock = self.a.ctx.connect(self.b.addr)
        self.run(lambda: sock in self.connected and len(self.accepted) > 0)
        return sock

    def check_healthy(self) -> None:
        data = pattern(7, self.sent, 20000)
        view = memoryview(data)
        while view:
            n = self.healthy.write(view)
            view = view[n:]
            self.run(lambda: True, timeout=1)
        self.sent += len(data)
        self.run(lambda: sum(map(len, self.received)) >= self.sent)
        assert b"".join(self.received) == pattern(7, 0, self.sent), "the healthy connection corrupted data"

    def close(self) -> None:
        self.a.close()
        self.b.close()


@pytest.fixture
def loop():
    lp = Loop()
    yield lp
    lp.close()


def destroyed_csocket(lp: Loop) -> rutp.CSocket:
    sock = lp.connect()
    sock.close()
    lp.run(lambda: sock.destroyed)
    return sock


def closed_context(lp: Loop) -> rutp.Context:
    ctx = rutp.Context()
    ctx.close()
    return ctx


def from_callback(kind: str, call: Callable[[rutp.CSocket, Loop], Any]) -> Callable[[Loop], Any]:
    """Makes ``call`` from inside the first ``kind`` callback of a new connection; returns its
    result or raises its exception after the loop ran."""
    def run(lp: Loop) -> Any:
        outcome: List[Any] = []

        def hook(k: str, sock: rutp.CSocket) -> None:
            if k == kind and not outcome and sock is not lp.healthy and sock is not lp.healthy_peer:
                try:
                    outcome.append(("ok", call(sock, lp)))
                except Exception as e:  # noqa: BLE001 - the outcome is what the row checks
                    outcome.append(("raised", e))

        lp.hook = hook
        sock = lp.a.ctx.connect(lp.b.addr)
        sock.write(b"wake the reader")
        lp.run(lambda: bool(outcome))
        lp.hook = None
        if outcome[0][0] == "raised":
            raise outcome[0][1]
        return outcome[0][1]
    return run


CONTEXT_ROWS: List[Tuple[str, Callable[[Any], Any], Any]] = [
    ("CSocket() made directly", lambda lp: rutp.CSocket(), (TypeError, None)),
    ("write on a destroyed CSocket", lambda lp: destroyed_csocket(lp).write(b"x"), EBADF),
    ("close of a destroyed CSocket", lambda lp: destroyed_csocket(lp).close(), None),
    ("getpeername of a destroyed CSocket", lambda lp: destroyed_csocket(lp).getpeername(), EBADF),
    ("stats of a destroyed CSocket", lambda lp: destroyed_csocket(lp).stats(), EBADF),
    ("process_udp on a closed Context",
     lambda lp: closed_context(lp).process_udp(b"x" * 20, ("127.0.0.1", 1)), EBADF),
    ("connect on a closed Context", lambda lp: closed_context(lp).connect(lp.b.addr), EBADF),
    ("check_timeouts on a closed Context", lambda lp: closed_context(lp).check_timeouts(), EBADF),
    ("close twice", lambda lp: closed_context(lp).close(), None),
    ("write of a str", lambda lp: lp.connect().write("text"), (TypeError, None)),
    ("writev of no buffers", lambda lp: lp.connect().writev([]), (ValueError, None)),
    ("shutdown with a bad how", lambda lp: lp.connect().shutdown(9), (ValueError, None)),
    ("setsockopt UTP_SNDBUF -1", lambda lp: lp.connect().setsockopt(Option.UTP_SNDBUF, -1),
     (ValueError, None)),
    ("set_option UTP_RCVBUF 0", lambda lp: lp.a.ctx.set_option(Option.UTP_RCVBUF, 0),
     (ValueError, None)),
    ("get_option of an unknown option", lambda lp: lp.a.ctx.get_option(12345), (ValueError, None)),
    ("set_callback at slot 99", lambda lp: lp.a.ctx.set_callback(99, lambda a: 0),
     (ValueError, None)),
    ("set_callback with a non-callable", lambda lp: lp.a.ctx.set_callback(Callback.UTP_LOG, 5),
     (TypeError, None)),
    ("process_icmp_fragmentation with MTU -1",
     lambda lp: lp.a.ctx.process_icmp_fragmentation(b"x" * 20, lp.b.addr, -1), (ValueError, None)),
    ("Context.close from its own on_state_change",
     from_callback("state", lambda s, lp: lp.a.ctx.close()), (RuntimeError, None)),
    ("Context.close from its own on_accept",
     from_callback("accept", lambda s, lp: lp.b.ctx.close()), (RuntimeError, None)),
    ("CSocket.close from on_read, then write on it",
     from_callback("read", lambda s, lp: (s.close(), s.write(b"x"))[1]), 0),
    ("CSocket.write from on_state_change", from_callback("state", lambda s, lp: s.write(b"abc")), 3),
    ("connect from on_accept", from_callback("accept", lambda s, lp: lp.b.ctx.connect(lp.a.addr).closed),
     False),
    ("the other Context's connect from on_read",
     from_callback("read", lambda s, lp: lp.a.ctx.connect(lp.b.addr).closed), False),
    ("write of a str from on_read", from_callback("read", lambda s, lp: s.write("text")),
     (TypeError, None)),
]


@pytest.mark.parametrize("name, call, want", CONTEXT_ROWS, ids=[r[0] for r in CONTEXT_ROWS])
def test_context_misuse(loop, name, call, want) -> None:
    check_row(loop, call, want)
    loop.check_healthy()
