"""The raw declarations of utp_managed.h work as C would use them, GIL released in blocking calls."""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from typing import List, Tuple

import pytest

from rutp import _ffi
from rutp._ffi import check, lib


def _managed_context() -> Tuple[_ffi.utp_context_p, Tuple[str, int]]:
    addr, length = _ffi.sockaddr_from("127.0.0.1", 0)
    ctx = lib.utp_managed_create(addr, length)
    assert ctx, os.strerror(ctypes.get_errno())
    bound = _ffi.sockaddr()
    bound_len = _ffi.socklen_t(ctypes.sizeof(bound))
    check(lib.utp_managed_local_address(ctx, bound, ctypes.byref(bound_len)))
    return ctx, _ffi.sockaddr_to(bound, bound_len.value)


@pytest.fixture
def managed_pair():
    a, a_addr = _managed_context()
    b, b_addr = _managed_context()
    yield a, b, b_addr
    check(lib.utp_managed_destroy(a))
    check(lib.utp_managed_destroy(b))


def test_blocking_write_and_read_on_two_threads(managed_pair) -> None:
    a, b, b_addr = managed_pair
    addr, length = _ffi.sockaddr_from(*b_addr)
    client = _ffi.utp_socket_p()
    check(lib.utp_managed_connect(a, addr, length, 5000, ctypes.byref(client)))
    server = _ffi.utp_socket_p()
    check(lib.utp_managed_accept(b, 5000, ctypes.byref(server)))
    payload = os.urandom(8 << 20)  # more than the windows hold: the write blocks until read
    written: List[int] = []

    def writer() -> None:
        written.append(check(lib.utp_managed_write(client, payload, len(payload), -1)))
        lib.utp_shutdown(client, 1)  # SHUT_WR

    thread = threading.Thread(target=writer)
    thread.start()  # blocks in C with the GIL released, or this thread could not read below
    received = bytearray()
    buf = ctypes.create_string_buffer(65536)
    while True:
        n = check(lib.utp_managed_read(server, buf, len(buf), 10_000))
        if n == 0:
            break
        received += buf.raw[:n]
    thread.join(10)
    assert written == [len(payload)]
    assert bytes(received) == payload
    lib.utp_close(client)
    lib.utp_close(server)


def test_accept_timeout_is_blocking_io_error(managed_pair) -> None:
    a, b, b_addr = managed_pair
    out = _ffi.utp_socket_p()
    with pytest.raises(BlockingIOError) as err:
        check(lib.utp_managed_accept(b, 0, ctypes.byref(out)), "utp_managed_accept")
    assert err.value.errno == errno.EAGAIN
    assert not out


def test_udp_handler_gets_non_utp_datagrams_on_the_library_thread(managed_pair) -> None:
    a, b, b_addr = managed_pair
    got: List[Tuple[bytes, Tuple[str, int], int]] = []
    arrived = threading.Event()

    def handler(user, buf, length, from_addr, from_len) -> None:
        got.append((ctypes.string_at(buf, length), _ffi.sockaddr_to(from_addr, from_len), user))
        arrived.set()

    c_handler = _ffi.utp_managed_udp_handler(handler)  # kept alive until cleared below
    check(lib.utp_managed_set_udp_handler(b, c_handler, 42))
    dest, dest_len = _ffi.sockaddr_from(*b_addr)
    message = b"d1:q4:pinge"  # bencoded DHT-like data, not uTP
    assert check(lib.utp_managed_sendto(a, message, len(message), dest, dest_len)) == len(message)
    assert arrived.wait(5)
    assert got[0][0] == message and got[0][2] == 42
    assert got[0][1][0] == "127.0.0.1"
    check(lib.utp_managed_set_udp_handler(b, _ffi.utp_managed_udp_handler(), None))  # NULL


def test_bad_handles_give_einval_not_a_crash() -> None:
    out = _ffi.utp_socket_p()
    with pytest.raises(OSError) as err:
        check(lib.utp_managed_accept(None, 0, ctypes.byref(out)))
    assert err.value.errno == errno.EINVAL
    plain = lib.utp_init(2)  # not a managed context
    try:
        with pytest.raises(OSError) as err:
            check(lib.utp_managed_accept(plain, 0, ctypes.byref(out)))
        assert err.value.errno == errno.EINVAL
    finally:
        lib.utp_destroy(plain)
    with pytest.raises(ctypes.ArgumentError):
        lib.utp_managed_accept(_ffi.utp_socket_p(), 0, ctypes.byref(out))  # a socket, not a context
