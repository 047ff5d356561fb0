"""Exceptions raised inside callbacks are reported to the caller, never lost, never fatal."""

from __future__ import annotations

import socket
from typing import List

import pytest

import rutp
from rutp._ffi import State
from udp_loop import Endpoint, run_until


class Boom(Exception):
    """The exception the tests' callbacks raise."""


@pytest.fixture
def pair():
    a, b = Endpoint(), Endpoint()
    yield a, b
    a.close()
    b.close()


def connect_and_exchange(a: Endpoint, b: Endpoint, message: bytes = b"ping") -> bytes:
    """Connects a to b, sends ``message``, returns what b received once a's FIN arrived."""
    got: List[bytes] = []
    eof: List[bool] = []
    b.ctx.on_accept(lambda s, addr: None)
    b.ctx.on_read(lambda s, data: got.append(data))
    b.ctx.on_state_change(lambda s, st: eof.append(True) if st == State.UTP_STATE_EOF else None)
    sock = a.ctx.connect(b.addr)
    a.ctx.on_state_change(
        lambda s, st: (s.write(message), s.shutdown(socket.SHUT_WR))
        if st == State.UTP_STATE_CONNECT else None
    )
    run_until([a, b], lambda: bool(eof), timeout=10)
    sock.close()
    return b"".join(got)


def test_exception_in_sendto_is_raised_from_connect_and_context_survives(pair) -> None:
    a, b = pair
    a.ctx.on_sendto(lambda data, addr, flags: (_ for _ in ()).throw(Boom("sendto failed")))
    with pytest.raises(Boom, match="sendto failed"):
        a.ctx.connect(b.addr)  # the SYN is sent from inside utp_connect
    a.ctx.on_sendto(lambda data, addr, flags: a.udp.sendto(data, addr))
    assert connect_and_exchange(a, b) == b"ping"


def test_exception_in_on_read_is_raised_from_process_udp(pair) -> None:
    a, b = pair
    raised: List[BaseException] = []

    def on_read(sock: rutp.CSocket, data: bytes) -> None:
        raise Boom(data)

    b.ctx.on_accept(lambda s, addr: None)
    b.ctx.on_read(on_read)
    sock = a.ctx.connect(b.addr)
    a.ctx.on_state_change(lambda s, st: s.write(b"hello") if st == State.UTP_STATE_CONNECT else None)

    def turn() -> None:
        try:
            b.drain()
        except Boom as exc:
            raised.append(exc)

    run_until([a], lambda: bool(raised), timeout=10, each_turn=turn)
    assert raised[0].args == (b"hello",)
    sock.close()


def test_further_exceptions_of_one_call_go_to_unraisablehook(pair, monkeypatch) -> None:
    a, b = pair
    seen: List[BaseException] = []
    monkeypatch.setattr("sys.unraisablehook", lambda hook_args: seen.append(hook_args.exc_value))
    calls = iter(range(1, 1000))
    a.ctx.on_sendto(lambda data, addr, flags: (_ for _ in ()).throw(Boom(next(calls))))
    a.ctx.on_log(lambda s, line: (_ for _ in ()).throw(Boom("log")))
    a.ctx.get_udp_overhead(lambda s, addr: (_ for _ in ()).throw(Boom("overhead")))
    a.ctx.get_udp_mtu(lambda s, addr: (_ for _ in ()).throw(Boom("mtu")))
    with pytest.raises(Boom) as first:
        a.ctx.connect(b.addr)
    assert seen, "the exceptions after the first were lost"
    assert all(isinstance(e, Boom) for e in seen)
    assert first.value not in seen


def test_a_callback_returning_a_non_int_raises_type_error_and_context_survives(pair) -> None:
    a, b = pair
    a.ctx.get_udp_mtu(lambda s, addr: "not a number")
    with pytest.raises(TypeError, match="must return an int"):
        a.ctx.connect(b.addr)  # the MTU is asked when the socket is set up
    a.ctx.get_udp_mtu(None)
    assert connect_and_exchange(a, b, b"after") == b"after"


def test_keyboard_interrupt_in_a_callback_reaches_the_caller(pair) -> None:
    a, b = pair

    def interrupt(data: bytes, addr: object, flags: int) -> None:
        raise KeyboardInterrupt

    a.ctx.on_sendto(interrupt)
    with pytest.raises(KeyboardInterrupt):
        a.ctx.connect(b.addr)


def test_closing_the_context_inside_its_callback_is_refused(pair) -> None:
    a, b = pair
    a.ctx.on_sendto(lambda data, addr, flags: a.ctx.close())
    with pytest.raises(RuntimeError, match="inside its own callbacks"):
        a.ctx.connect(b.addr)
    assert not a.ctx.closed
    a.ctx.check_timeouts()  # still usable
