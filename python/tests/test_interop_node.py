"""Interop with the reference libutp through utp-native 2.5.3 (Node), both directions.

utp-native is installed into ``target/utp-native`` with npm when missing. Without node or npm
the tests FAIL (they never skip): interop is part of what this suite shows.

The reference server is corked until the client sends (libutp needs the initiator's first data
packet), so in both tests the client speaks first: it sends the whole payload, the server echoes
it, and the client checks the echo.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

import rutp
from streamkit import MiB, read_all

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PREFIX = REPO / "target" / "utp-native"
SIZE_MIB = 8


def node_pattern(size: int) -> bytes:
    """The bytes node_peer.js sends: ``(i * 131 + (i >> 16)) & 0xff``."""
    block = bytes((i * 131) & 0xFF for i in range(65536))
    out = bytearray()
    for hi in range((size + 65535) // 65536):
        out += bytes((b + hi) & 0xFF for b in block) if hi else block
    return bytes(out[:size])


def _node_env() -> dict:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: the utp-native interop tests need Node.js and npm")
    if not (PREFIX / "node_modules" / "utp-native").is_dir():
        done = subprocess.run(
            ["npm", "install", "--prefix", str(PREFIX), "utp-native@2.5.3"],
            capture_output=True, text=True, timeout=300,
        )
        if done.returncode != 0:
            pytest.fail(f"npm install utp-native@2.5.3 failed:\n{done.stdout}\n{done.stderr}")
    env = dict(os.environ)
    env["NODE_PATH"] = str(PREFIX / "node_modules")
    return env


def test_python_client_to_reference_libutp_server() -> None:
    env = _node_env()
    data = node_pattern(SIZE_MIB * MiB)
    node = subprocess.Popen(["node", str(HERE / "node_peer.js"), "server"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = json.loads(node.stdout.readline())["port"]
        with rutp.Socket(("127.0.0.1", 0)) as sock:
            with sock.connect(("127.0.0.1", port), timeout=10) as stream:
                echo: list = []
                reader = threading.Thread(target=lambda: echo.append(read_all(stream)))
                reader.start()
                stream.sendall(data)
                stream.shutdown(socket.SHUT_WR)
                reader.join(60)
                assert not reader.is_alive()
        assert echo[0] == data
        report = json.loads(node.stdout.readline())
        assert report["bytes"] == len(data)
    finally:
        if node.poll() is None:
            node.kill()
        node.wait(10)


def test_reference_libutp_client_to_python_server() -> None:
    env = _node_env()
    expected = node_pattern(SIZE_MIB * MiB)
    with rutp.Socket(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
        node = subprocess.Popen(
            ["node", str(HERE / "node_peer.js"), "client", str(port), str(SIZE_MIB)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            stream, _ = sock.accept(timeout=10)
            received = bytearray()
            with stream:
                while True:  # echo until the client's FIN
                    chunk = stream.recv(MiB)
                    if not chunk:
                        break
                    received += chunk
                    stream.sendall(chunk)
                stream.shutdown(socket.SHUT_WR)
                out, err = node.communicate(timeout=60)
            assert bytes(received) == expected
            assert node.returncode == 0, f"{out}\n{err}"
            report = json.loads(out.strip().splitlines()[-1])
            assert report["ok"] and report["echoed"] == len(expected), report
        finally:
            if node.poll() is None:
                node.kill()
            node.wait(10)
