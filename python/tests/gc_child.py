"""Garbage collection with transfers in progress, run in a child process so that a crash fails
one test (with faulthandler's traceback) instead of the whole session.

``gc_child.py collect``: receivers are dropped (in reference cycles) and collected while their
senders are blocked mid-transfer; the senders must end with an OSError or finish, and a fresh
pair must still work. ``gc_child.py exit``: the interpreter exits with daemon threads blocked in
recv and send on live sockets. Prints "ok" on success.
"""

import faulthandler
import gc
import sys
import threading

import rutp

faulthandler.enable(all_threads=True)
faulthandler.dump_traceback_later(50, exit=True)  # a hang shows where it hangs


def _pair():
    server = rutp.Socket(("127.0.0.1", 0))
    client = rutp.Socket(("127.0.0.1", 0))
    a = client.connect(server.getsockname(), timeout=10)
    b, _ = server.accept(timeout=10)
    return server, client, a, b


def _blast(stream, outcome):
    try:
        stream.sendall(b"g" * (64 << 20))
        outcome.append("done")
    except OSError as e:
        outcome.append(type(e).__name__)


def collect() -> None:
    outcomes = []
    threads = []
    for _ in range(4):
        server, client, a, b = _pair()
        b.cycle = b  # a reference cycle: only the cycle collector frees it
        server.cycle = (server, b)
        t = threading.Thread(target=_blast, args=(a, outcomes), daemon=True)
        t.start()
        assert b.recv(1000)  # the transfer is running
        threads.append((t, client))
        del server, b, a
        gc.collect()
    for t, client in threads:
        t.join(30)
        assert not t.is_alive(), "a sender stayed blocked after its peer was collected"
        client.close()
    assert len(outcomes) == 4, outcomes
    # Streams dropped while still connected, without any close, and a socket dropped with them.
    for _ in range(3):
        server, client, a, b = _pair()
        a.sendall(b"unread data" * 1000)
        del a, b, server, client
        gc.collect()
    server, client, a, b = _pair()
    a.sendall(b"after")
    a.shutdown(1)
    assert b.recv(10) == b"after"
    print("ok", outcomes, flush=True)


def exit_with_live_transfers() -> None:
    server, client, a, b = _pair()
    threading.Thread(target=lambda: b.recv(10), daemon=True).start()
    threading.Thread(target=lambda: a.sendall(b"e" * (64 << 20)), daemon=True).start()
    print("ok", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    {"collect": collect, "exit": exit_with_live_transfers}[sys.argv[1]]()
