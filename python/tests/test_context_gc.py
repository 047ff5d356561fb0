"""Contexts with live connections and callbacks that refer back to them are collected safely.

Each scenario runs in its own interpreter (faulthandler on): a crash fails that test with the
C stack in its output instead of ending the test run.
"""

from __future__ import annotations

from run_python import run_python

MIDWAY_TRANSFER = """
import gc, os, weakref
import rutp
from udp_loop import Endpoint, run_until

calls = []

def start():
    a, b = Endpoint(), Endpoint()
    received = []
    # Each callback closes over its own endpoint: context -> state -> callback -> endpoint -> context.
    b.ctx.on_accept(lambda s, addr: calls.append(("accept", b.addr)))
    b.ctx.on_read(lambda s, data: received.append(len(data)))
    b.ctx.on_state_change(lambda s, st: calls.append(("state", int(st), b.addr)))
    a.ctx.on_state_change(lambda s, st: calls.append(("state", int(st), a.addr)))
    sock = a.ctx.connect(b.addr)
    payload = os.urandom(4 << 20)
    run_until([a, b], lambda: sum(received) > 0, timeout=10,
              each_turn=lambda: sock.write(payload))
    a.udp.close(); b.udp.close()
    return [weakref.ref(a.ctx), weakref.ref(b.ctx), weakref.ref(sock)]

refs = start()
calls_before = len(calls)
gc.collect()
assert [r() for r in refs] == [None, None, None], "contexts not collected"
assert len(calls) == calls_before, "a callback ran during garbage collection"
print("ok")
"""


def test_collecting_contexts_mid_transfer_with_cyclic_callbacks() -> None:
    result = run_python(MIDWAY_TRANSFER)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_socket_outliving_its_collected_context_refuses_calls() -> None:
    result = run_python("""
        import gc, rutp
        from udp_loop import Endpoint, run_until
        a, b = Endpoint(), Endpoint()
        b.ctx.on_accept(lambda s, addr: None)
        sock = a.ctx.connect(b.addr)
        run_until([a, b], lambda: sock.getpeername() == b.addr, timeout=5)
        del a, b          # no callback refers to the contexts: only the socket is left
        gc.collect()
        assert sock.destroyed
        try:
            sock.write(b"late")
        except OSError as err:
            print("late write:", err.errno)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "late write: 9"  # EBADF, not a use of the freed handle


def test_dropping_the_last_reference_destroys_at_once() -> None:
    result = run_python("""
        import weakref, rutp
        ctx = rutp.Context()
        ctx.on_read(lambda s, d: None)
        state = ctx._state
        ref = weakref.ref(ctx)
        del ctx
        assert ref() is None and state.ptr is None and not state.trampolines
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_many_contexts_created_and_dropped() -> None:
    result = run_python("""
        import gc, rutp
        for i in range(2000):
            ctx = rutp.Context()
            ctx.on_sendto(lambda data, addr, flags, ctx=ctx: None)   # a cycle through the callback
            ctx.connect(("127.0.0.1", 9))
        gc.collect()
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_interpreter_exit_with_open_contexts_and_connections() -> None:
    result = run_python("""
        import os
        from udp_loop import Endpoint, run_until
        a, b = Endpoint(), Endpoint()
        b.ctx.on_accept(lambda s, addr: None)
        got = []
        b.ctx.on_read(lambda s, d: got.append(d))
        sock = a.ctx.connect(b.addr)
        run_until([a, b], lambda: bool(got), timeout=10, each_turn=lambda: sock.write(b"x" * 5000))
        a.ctx.on_state_change(lambda s, st: print("callback at exit", flush=True))
        print("exiting", flush=True)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "exiting"  # the atexit destroy calls no Python callback


def test_a_context_collected_during_a_call_on_its_socket_is_destroyed_after_it() -> None:
    result = run_python("""
        import gc, socket, weakref
        import rutp

        udp_a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp_a.bind(("127.0.0.1", 0))
        udp_b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp_b.bind(("127.0.0.1", 0))
        udp_a.settimeout(5); udp_b.settimeout(5)
        during = []

        def send_a(data, addr, flags):
            udp_a.sendto(data, addr)
            if during == []:
                gc.collect()  # the context is cyclic garbage: collected inside utp_write
                during.append(sock.destroyed)

        def make():
            a, b = rutp.Context(), rutp.Context()
            a.cycle = a  # only the cyclic collector frees it; nothing but a socket refers to it
            b.on_sendto(lambda d, addr, f: udp_b.sendto(d, addr))
            b.on_accept(lambda s, addr: None)
            a.on_sendto(lambda d, addr, f: udp_a.sendto(d, addr))
            sock = a.connect(udp_b.getsockname())
            b.process_udp(*udp_b.recvfrom(65536))  # the SYN
            a.process_udp(*udp_a.recvfrom(65536))  # the SYN-ACK: connected
            a.on_sendto(send_a)
            return sock, weakref.ref(a), b

        sock, ref, b = make()
        assert ref() is not None
        sent = sock.write(b"x" * 100_000)
        print(sent > 0, during, sock.destroyed, ref() is None)
    """)
    assert result.returncode == 0, result.stderr
    # Collected (weakly dead) in the callback, but its C context lived until utp_write returned.
    assert result.stdout.split() == ["True", "[False]", "True", "True"]
