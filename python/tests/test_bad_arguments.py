"""Bad arguments raise TypeError/ValueError/OSError; none reaches C or crashes the interpreter."""

from __future__ import annotations

import errno
import random
import socket
import sys

import pytest

import rutp
from rutp import _ffi
from rutp._ffi import Callback, Option
from udp_loop import Endpoint, run_until


@pytest.fixture
def ctx():
    with rutp.Context() as context:
        yield context


@pytest.mark.parametrize("data", ["text", None, 12, 1.5, object()])
def test_process_udp_takes_only_bytes_like_data(ctx, data) -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        ctx.process_udp(data, ("127.0.0.1", 1))


@pytest.mark.parametrize("addr, error", [
    ("127.0.0.1", TypeError),
    (("127.0.0.1",), TypeError),
    ((b"127.0.0.1", 1), TypeError),
    (("127.0.0.1", "80"), TypeError),
    (("127.0.0.1", True), TypeError),
    (("127.0.0.1", 65536), ValueError),
    (("127.0.0.1", -1), ValueError),
    (("no-such-host.invalid", 1), ValueError),
    (("1.2.3.4\0", 1), ValueError),
])
def test_bad_addresses_are_refused(ctx, addr, error) -> None:
    with pytest.raises(error):
        ctx.process_udp(b"x" * 20, addr)
    with pytest.raises(error):
        ctx.connect(addr)


def test_datagrams_that_are_not_utp_are_handed_back(ctx) -> None:
    assert ctx.process_udp(b"", ("127.0.0.1", 9)) is False
    assert ctx.process_udp(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
                           ("127.0.0.1", 9)) is False
    assert ctx.process_udp(bytearray(b"\xff" * 1500), ("::1", 9)) is False


def test_callback_registration_checks_slot_and_callable(ctx) -> None:
    with pytest.raises(ValueError):
        ctx.set_callback(16, lambda args: 0)
    with pytest.raises(ValueError):
        ctx.set_callback(-1, lambda args: 0)
    with pytest.raises(TypeError):
        ctx.set_callback(Callback.UTP_ON_READ, 5)
    with pytest.raises(TypeError):
        ctx.on_read("not callable")


def test_options_are_checked(ctx) -> None:
    with pytest.raises(ValueError):
        ctx.set_option(9999, 1)
    with pytest.raises(ValueError):
        ctx.set_option(Option.UTP_RCVBUF, 0)
    with pytest.raises(ValueError):
        ctx.set_option(Option.UTP_SNDBUF, 1 << 40)
    with pytest.raises(TypeError):
        ctx.set_option(Option.UTP_SNDBUF, "big")
    ctx.set_option(Option.UTP_SNDBUF, 300_000)
    assert ctx.get_option(Option.UTP_SNDBUF) == 300_000


def test_socket_methods_check_their_arguments() -> None:
    a, b = Endpoint(), Endpoint()
    try:
        b.ctx.on_accept(lambda s, addr: None)
        sock = a.ctx.connect(b.addr)
        run_until([a, b], lambda: sock.getpeername() == b.addr, timeout=5)
        with pytest.raises(TypeError):
            sock.write("text")
        with pytest.raises(TypeError):
            sock.write(None)
        with pytest.raises(ValueError):
            sock.shutdown(7)
        with pytest.raises(ValueError):
            sock.writev([])
        with pytest.raises(ValueError):
            sock.setsockopt(Option.UTP_LOG_DEBUG, 1)  # context-only option
        assert sock.write(bytearray(b"abc")) in (0, 3)
        assert sock.writev([b"ab", memoryview(b"cd")]) in (0, 4)
    finally:
        a.close()
        b.close()
    with pytest.raises(OSError) as closed:
        sock.write(b"late")
    assert closed.value.errno == errno.EBADF


def test_a_closed_context_refuses_calls() -> None:
    ctx = rutp.Context()
    ctx.close()
    ctx.close()  # idempotent
    for call in (ctx.check_timeouts, ctx.issue_deferred_acks, lambda: ctx.connect(("127.0.0.1", 1)),
                 lambda: ctx.process_udp(b"x", ("127.0.0.1", 1))):
        with pytest.raises(OSError) as err:
            call()
        assert err.value.errno == errno.EBADF


def test_csocket_cannot_be_made_directly() -> None:
    with pytest.raises(TypeError):
        rutp.CSocket()


def test_sockaddr_helpers_round_trip_and_refuse_garbage() -> None:
    for host, port, length in (("127.0.0.1", 6881, 16), ("::1", 1, 28), ("", 0, 16)):
        addr, n = _ffi.sockaddr_from(host, port)
        assert n == length
        assert _ffi.sockaddr_to(addr, n) == (host or "0.0.0.0", port)
    raw, _ = _ffi.sockaddr_from("10.1.2.3", 0x1234)
    assert bytes(raw)[2:8] == b"\x12\x34\x0a\x01\x02\x03"  # port and address in network order
    assert int.from_bytes(bytes(raw)[:2], sys.byteorder) == socket.AF_INET
    with pytest.raises(ValueError):
        _ffi.sockaddr_to(None, 16)
    with pytest.raises(ValueError):
        _ffi.sockaddr_to(bytes(16), 16)  # family 0
    with pytest.raises(ValueError):
        _ffi.sockaddr_to(raw, 4)  # too short for an IPv4 address
    with pytest.raises(ValueError):
        _ffi.sockaddr_to(raw, 200)  # longer than any address


@pytest.mark.parametrize("code, exc_type", [
    (-errno.ECONNREFUSED, ConnectionRefusedError),
    (-errno.ECONNRESET, ConnectionResetError),
    (-errno.ETIMEDOUT, TimeoutError),
    (-errno.EPIPE, BrokenPipeError),
    (-errno.EAGAIN, BlockingIOError),
])
def test_check_maps_negated_errno_to_builtin_exceptions(code, exc_type) -> None:
    with pytest.raises(exc_type) as err:
        _ffi.check(code, "utp_managed_connect")
    assert err.value.errno == -code
    assert "utp_managed_connect" in str(err.value)


def test_check_passes_non_negative_values_through() -> None:
    assert _ffi.check(0) == 0
    assert _ffi.check(4096) == 4096
    with pytest.raises(OSError) as err:
        _ffi.check(-errno.EINVAL)
    assert type(err.value) is OSError and err.value.errno == errno.EINVAL


def test_random_datagrams_with_utp_headers_are_survived(ctx) -> None:
    rng = random.Random(6)
    ctx.on_accept(lambda sock, addr: None)
    ctx.on_sendto(lambda data, addr, flags: None)
    answers = set()
    for _ in range(3000):
        kind = rng.randrange(5) << 4 | 1  # every packet type, version 1
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        datagram = bytes([kind, rng.choice((0, 1, 2))]) + bytes(18) + body
        answers.add(ctx.process_udp(datagram, ("127.0.0.1", rng.randrange(1, 65536))))
        if rng.random() < 0.05:
            ctx.check_timeouts()
    assert answers == {True}  # all recognised as uTP (handled, answered or dropped)
