#!/usr/bin/env python3
"""ucat's standard input, served over a socket pair (used by interop-utpcat.sh, interop-netns.sh).

usage: ucat-gate.py hold OUT -- CMD...      stdin stays open, sending nothing, until the file OUT
                                             has GATE_BYTES bytes (or CMD exits)
       ucat-gate.py feed IN T0 -- CMD...    once the file GATE_GO exists, waits 0.2 s, writes the
                                             time into T0 and streams IN
Environment: GATE_BYTES (hold), GATE_GO (feed). Then the socket's write side is shut down (the
end of input) and the helper exits with CMD's status.

A pipe cannot be used: ucat polls stdin for POLLIN only, and a pipe whose writer closed reports
POLLHUP alone, so ucat would never see the end of input. A receiving ucat closes only once its
stdin ends, and a listening one quits as soon as it does; a listening ucat only starts sending
when stdin delivers data after the connection was made (libutp reports no "writable" when an
acceptor becomes connected), hence the 0.2 s.
"""
import os, socket, subprocess, sys, time
mode, path, *rest = sys.argv[1:]
sep = rest.index("--")
extra, cmd = rest[:sep], rest[sep + 1:]
ours, theirs = socket.socketpair()
child = subprocess.Popen(cmd, stdin=theirs)
theirs.close()
want = int(os.environ.get("GATE_BYTES", "0"))
go = os.environ.get("GATE_GO", "")
try:
    if mode == "hold":
        while child.poll() is None:
            try:
                if os.path.getsize(path) >= want:
                    break
            except OSError:
                pass
            time.sleep(0.01)
    else:
        while child.poll() is None and not os.path.exists(go):
            time.sleep(0.01)
        time.sleep(0.2)
        with open(extra[0], "w") as f:
            f.write("%.6f\n" % time.time())
        with open(path, "rb") as f:
            while child.poll() is None:
                block = f.read(1 << 16)
                if not block:
                    break
                ours.sendall(block)
    ours.shutdown(socket.SHUT_WR)
except OSError:
    pass
sys.exit(child.wait())
