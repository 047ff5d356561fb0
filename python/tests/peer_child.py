"""A uTP peer in a child process, for tests that kill it: ``peer_child.py connect PORT`` or
``peer_child.py accept``. It prints its port (accept) or "ready" once connected and the first
bytes are exchanged, then reads and discards until it is killed."""

import sys

import rutp


def main() -> None:
    role = sys.argv[1]
    with rutp.Socket(("127.0.0.1", 0)) as sock:
        if role == "connect":
            stream = sock.connect(("127.0.0.1", int(sys.argv[2])), timeout=10)
        else:
            print(sock.getsockname()[1], flush=True)
            stream, _ = sock.accept(timeout=10)
        stream.sendall(b"hello")
        print("ready", flush=True)
        while stream.recv(1 << 16):
            pass


if __name__ == "__main__":
    main()
