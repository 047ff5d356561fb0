"""Interop with Transmission 3.00 (Debian's ``transmission-cli``, which embeds libutp): our
BitTorrent client downloads a 16 MiB torrent from a Transmission seeder over our uTP.

- The torrent: a random 16 MiB file, made into a v1 torrent by Transmission's own
  ``transmission-create`` (256 KiB pieces); our metainfo reader must agree with it (the piece
  hashes equal our SHA-1 of the file's pieces, the info-hash equals the one Transmission reports).
- The seeder: ``transmission-cli`` in a temporary config dir whose ``settings.json`` this test
  writes (:func:`seeder_settings`): everything bound to 127.0.0.1, DHT, LPD, PEX, port mapping and
  blocklists off, uTP on, plaintext accepted. Transmission 3.00 cannot turn TCP off; our client
  only speaks uTP, so the connection is uTP, and Transmission must say so itself: its RPC server
  (on 127.0.0.1 too) lists our peer with ``isUTP`` and our UDP port. The process runs under
  ``timeout`` in its own process group and is killed and reaped at the end whatever happens.
- ``transmission->rutp``: our client (``rutp.Socket.connect``) sends the handshake; the reply
  must carry the torrent's info-hash and a ``-TR3000-`` peer id (Transmission 3.00). Then it
  requests every block, checks every piece's SHA-1, and the bytes must equal the file.

Transmission unchokes a new peer only at its next choke round (10.5 s after "interested" in our
runs) and answers requests in bursts 500 ms apart (the first block comes 0.5 s after the
unchoke), so the rate is taken over the data phase: the bytes after the first block over the
time from the first block to the last. A connection the seeder closes before unchoking us is
set-up trouble, not a result: the client connects again after 5 s (Transmission refuses a
reconnect from the same address right after a close), at most :data:`CONNECT_ATTEMPTS` times;
what happens after the unchoke is never retried. Every wait is bounded. Prints one table line
and appends it to ``$RUTP_INTEROP_DIR/transmission.txt`` (default ``target/interop`` of the
checkout).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

import bittorrent
import rutp

SIZE = 16 * 1024 * 1024
PIECE_KIB = 256
SCENARIO = "bittorrent 16 MiB"
DIRECTION = "transmission->rutp"
PEER_ID_PREFIX = b"-TR3000-"  # Azureus-style: Transmission 3.00
SEEDER_LIFETIME = 120  # seconds `timeout` gives transmission-cli, far above the ~15 s it needs
READY_WITHIN = 60.0  # seconds for the seeder to verify its copy and start seeding
READ_TIMEOUT = 30.0  # seconds for any single read: covers the wait for Transmission's choke round
CONNECT_ATTEMPTS = 3
# Requests kept outstanding. Transmission sends blocks in bursts 500 ms apart, and a burst goes
# on only while requests are queued: measured, 16 outstanding give 16 blocks per burst
# (0.5 MiB/s), 64 stall a few times (2.7-4.0 MiB/s), 256 move the whole torrent in one burst.
PIPELINE = 256
RECONNECT_PAUSE = 5.0  # Transmission refuses a reconnect from the same address right after a close
TR_STATUS_SEED = 6  # tr_torrent_activity: TR_STATUS_SEED
OUT_DIR = Path(os.environ.get("RUTP_INTEROP_DIR", Path(__file__).resolve().parents[2] / "target" / "interop"))


def transmission_version(program: str) -> str:
    """``3.00`` from ``transmission-cli 3.00 (bb6b5a062e)``."""
    shown = subprocess.run(
        [program, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    words = (shown.stdout + shown.stderr).split()
    return words[1] if len(words) > 1 else "(unknown version)"


def free_port() -> int:
    """A port free on 127.0.0.1 for both TCP and UDP: Transmission listens on both with one number.

    Another process could take it before Transmission binds it; the test checks that the UDP
    port is taken once Transmission seeds (:func:`port_taken_over_udp`).
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both TCP and UDP on 127.0.0.1 in 50 tries")


def seeder_settings(peer_port: int, rpc_port: int) -> Dict[str, Any]:
    """Transmission's ``settings.json``: loopback only, nothing that reaches other hosts, uTP on."""
    return {
        # Listen on loopback only (Transmission also opens [::1] for TCP; ::1 is loopback too).
        "bind-address-ipv4": "127.0.0.1",
        "bind-address-ipv6": "::1",
        "peer-port": peer_port,
        "peer-port-random-on-start": False,
        # No peer discovery, no router port mapping, no blocklist download.
        "dht-enabled": False,
        "lpd-enabled": False,
        "pex-enabled": False,
        "port-forwarding-enabled": False,
        "blocklist-enabled": False,
        # The transport under test. TCP cannot be switched off in 3.00.
        "utp-enabled": True,
        # 1: prefer encryption but accept plaintext, the only handshake our client speaks.
        "encryption": 1,
        # No limit that would stretch the transfer.
        "speed-limit-up-enabled": False,
        "speed-limit-down-enabled": False,
        "alt-speed-enabled": False,
        "ratio-limit-enabled": False,
        "idle-seeding-limit-enabled": False,
        # The RPC server, on loopback without a password: how the test asks Transmission about
        # its torrent and its peer.
        "rpc-enabled": True,
        "rpc-bind-address": "127.0.0.1",
        "rpc-port": rpc_port,
        "rpc-authentication-required": False,
        "rpc-whitelist-enabled": True,
        "rpc-whitelist": "127.0.0.1",
        # 3 (debug) logs "Verification is done" and the bound sockets to stderr.
        "message-level": 3,
    }


class Rpc:
    """Transmission's JSON RPC over HTTP on 127.0.0.1 (never through a proxy)."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/transmission/rpc"
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.session_id = ""

    def call(self, method: str, **arguments: Any) -> Dict[str, Any]:
        body = json.dumps({"method": method, "arguments": arguments}).encode()
        for _ in range(2):  # the first answer may be 409 with the session id to send
            request = urllib.request.Request(
                self.url, data=body, headers={"X-Transmission-Session-Id": self.session_id}
            )
            try:
                with self.opener.open(request, timeout=5) as answer:
                    reply = json.loads(answer.read())
            except urllib.error.HTTPError as exc:
                if exc.code == 409:
                    self.session_id = exc.headers.get("X-Transmission-Session-Id", "")
                    continue
                raise
            if reply.get("result") != "success":
                raise RuntimeError(f"Transmission RPC {method}: {reply.get('result')}")
            return reply["arguments"]
        raise RuntimeError("Transmission RPC kept answering 409")

    def torrent(self, *fields: str) -> Dict[str, Any]:
        """The fields of the only torrent."""
        torrents = self.call("torrent-get", fields=list(fields))["torrents"]
        if len(torrents) != 1:
            raise RuntimeError(f"Transmission has {len(torrents)} torrents, expected 1")
        return torrents[0]


@dataclass
class Seeder:
    process: "subprocess.Popen[bytes]"
    peer_port: int
    rpc: Rpc
    log: Path

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def fail(self, why: str) -> None:
        pytest.fail(f"{why}\nlast lines of transmission-cli's log ({self.log}):\n{self.log_tail()}",
                    pytrace=False)

    def wait_until_seeding(self) -> Dict[str, Any]:
        """Polls the RPC server until the torrent is verified and seeding (bounded)."""
        end = time.monotonic() + READY_WITHIN
        last: Any = "no answer"
        while time.monotonic() < end:
            if self.process.poll() is not None:
                self.fail(f"transmission-cli exited with status {self.process.returncode} before seeding")
            try:
                last = self.rpc.torrent("hashString", "status", "percentDone", "error", "errorString")
                if last["error"]:
                    self.fail(f"Transmission reports an error on the torrent: {last['errorString']}")
                if last["status"] == TR_STATUS_SEED and last["percentDone"] == 1:
                    return last
            except (OSError, RuntimeError, ValueError) as exc:  # not listening yet
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)
        self.fail(f"Transmission was not seeding after {READY_WITHIN:.0f} s (last: {last})")
        raise AssertionError("unreachable")


@contextlib.contextmanager
def running_seeder(program: str, torrent: Path, data_dir: Path, work: Path) -> Iterator[Seeder]:
    """transmission-cli seeding ``torrent`` from ``data_dir``; killed and reaped on exit."""
    config = work / "transmission-config"
    config.mkdir()
    peer_port, rpc_port = free_port(), free_port()
    while rpc_port == peer_port:
        rpc_port = free_port()
    (config / "settings.json").write_text(json.dumps(seeder_settings(peer_port, rpc_port), indent=2))
    log = work / "transmission-cli.log"
    with open(log, "wb") as log_file:
        # -M: no port mapping, -U: no upload limit (both also in the settings).
        process = subprocess.Popen(
            ["timeout", "--kill-after=5", str(SEEDER_LIFETIME), program, "-g", str(config),
             "-w", str(data_dir), "-p", str(peer_port), "-M", "-U", str(torrent)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file,
            start_new_session=True,  # its own process group, so nothing it starts outlives it
        )
    try:
        yield Seeder(process, peer_port, Rpc(rpc_port), log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # `timeout` passes it on
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def port_taken_over_udp(port: int) -> bool:
    """Whether something (Transmission's uTP socket, we expect) has UDP 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def make_torrent(work: Path) -> Tuple[Path, Path, bytes, bittorrent.Metainfo]:
    """A random 16 MiB file and its v1 torrent made by transmission-create; checks our reader
    agrees with it."""
    data_dir = work / "seed"
    data_dir.mkdir()
    content = os.urandom(SIZE)
    (data_dir / "data.bin").write_bytes(content)
    torrent = work / "data.torrent"
    made = subprocess.run(
        ["transmission-create", "-o", str(torrent), "-s", str(PIECE_KIB), str(data_dir / "data.bin")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert made.returncode == 0 and torrent.is_file(), f"transmission-create failed: {made.stderr}"
    meta = bittorrent.Metainfo.parse(torrent.read_bytes())
    assert (meta.name, meta.length, meta.piece_length) == ("data.bin", SIZE, PIECE_KIB * 1024)
    assert meta.piece_count == SIZE // (PIECE_KIB * 1024)
    ours = tuple(
        hashlib.sha1(content[i : i + meta.piece_length]).digest() for i in range(0, SIZE, meta.piece_length)
    )
    assert meta.piece_hashes == ours, "transmission-create's piece hashes differ from our SHA-1s"
    return torrent, data_dir, content, meta


def udp_receive_buffer_errors() -> Optional[int]:
    """The host's count of UDP datagrams dropped on a full receive buffer (all sockets)."""
    try:
        lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()
                 if line.startswith("Udp:")]
        return int(lines[1][lines[0].index("RcvbufErrors")])
    except (OSError, ValueError, IndexError):
        return None


def record(version: str, passed: bool, nbytes: int, mib_per_s: Optional[float]) -> str:
    rate = f"{mib_per_s:.1f}" if passed and mib_per_s is not None else "-"
    line = " | ".join(
        ["interop", f"transmission {version}", SCENARIO, DIRECTION, "PASS" if passed else "FAIL",
         str(nbytes), rate]
    )
    print("\n" + line)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUT_DIR / "transmission.txt", "a") as out:
        out.write(line + "\n")
    return line


def download_with_reconnects(
    ours: rutp.Socket, seeder: Seeder, meta: bittorrent.Metainfo
) -> Tuple[bittorrent.DownloadResult, Any, List[str]]:
    """Our download over a fresh uTP connection; the connection is returned still open.

    Reconnects (after :data:`RECONNECT_PAUSE`) only when the connection fails before
    Transmission unchoked us; anything later propagates.
    """
    setbacks: List[str] = []
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        progress = bittorrent.DownloadProgress()
        stream = None
        try:
            stream = ours.connect(("127.0.0.1", seeder.peer_port), timeout=10)
            result = bittorrent.download(
                stream, meta, pipeline=PIPELINE, timeout=READ_TIMEOUT, progress=progress
            )
            return result, stream, setbacks
        except ConnectionError as exc:
            if stream is not None:
                stream.close()
            if progress.unchoked_at is not None or attempt == CONNECT_ATTEMPTS:
                raise
            stage = "connect" if stream is None else (
                "the handshake" if progress.handshake_at is None else "the unchoke")
            setbacks.append(f"attempt {attempt}: closed before {stage} ({type(exc).__name__}: {exc})")
            time.sleep(RECONNECT_PAUSE)
    raise AssertionError("unreachable")


def test_rutp_downloads_every_piece_from_a_transmission_seeder(tmp_path: Path) -> None:
    program = shutil.which("transmission-cli")
    version = "(not installed)"
    passed, nbytes = False, 0
    mib_per_s: Optional[float] = None
    try:
        if program is not None:
            version = transmission_version(program)
        if program is None or shutil.which("transmission-create") is None:
            pytest.fail(
                "transmission-cli/transmission-create are not installed; scripts/interop-transmission.sh"
                " installs them (apt-get install transmission-cli)", pytrace=False)
        torrent, data_dir, content, meta = make_torrent(tmp_path)

        with running_seeder(program, torrent, data_dir, tmp_path) as seeder:
            ready_started = time.monotonic()
            status = seeder.wait_until_seeding()
            ready_seconds = time.monotonic() - ready_started
            assert status["hashString"] == meta.info_hash.hex(), "Transmission's info-hash differs from ours"
            if not port_taken_over_udp(seeder.peer_port):
                seeder.fail(f"Transmission did not bind UDP 127.0.0.1:{seeder.peer_port}"
                            " (did another process take it first?)")

            drops_before = udp_receive_buffer_errors()
            with rutp.Socket(("127.0.0.1", 0)) as ours:
                our_port = ours.getsockname()[1]
                result, stream, setbacks = download_with_reconnects(ours, seeder, meta)
                drops_after = udp_receive_buffer_errors()
                try:
                    # Asked while our connection is still open: how Transmission sees it.
                    view = seeder.rpc.torrent("peers", "peersConnected", "uploadedEver")
                    stats = stream.stats()
                finally:
                    stream.close()

            assert result.remote.info_hash == meta.info_hash
            assert result.remote.peer_id.startswith(PEER_ID_PREFIX), result.remote.peer_id
            assert result.pieces_verified == meta.piece_count
            same = bytes(result.data) == content  # a bool: no 16 MiB diff in the report
            assert same, "the downloaded bytes differ from the file"
            nbytes = len(result.data)

            peers = view["peers"]
            assert len(peers) == 1, f"Transmission lists {len(peers)} peers: {peers}"
            peer = peers[0]
            assert (peer["address"], peer["port"]) == ("127.0.0.1", our_port), peer
            assert peer["isUTP"] is True, f"Transmission's peer is not on uTP: {peer}"
            assert peer["isEncrypted"] is False, peer
            assert view["uploadedEver"] >= SIZE, view["uploadedEver"]
            assert stats.bytes_received >= SIZE, stats
            # Transmission's libutp acknowledged our path-MTU probes: the size rose above the
            # 1232-byte start (loopback carries any size).
            assert stats.mtu > 1232, f"our path MTU stayed at {stats.mtu}: probes were not acknowledged"

            progress = result.progress
            assert progress.unchoked_at is not None and progress.interested_at is not None
            assert progress.first_block_at is not None and progress.last_block_at is not None
            seconds = progress.last_block_at - progress.first_block_at
            # The data phase: the bytes that arrived after the first block, over the time since it.
            mib_per_s = (nbytes - bittorrent.BLOCK) / 1048576 / seconds if seconds > 0 else None
            print(
                f"\ntransmission-cli verified and seeded after {ready_seconds:.2f} s;"
                f" setbacks before the download: {setbacks or 'none'}"
                f"\nhandshake answered in {result.handshake_seconds * 1000:.1f} ms"
                f" (reserved {result.remote.reserved.hex()}, peer id {result.remote.peer_id[:8].decode()});"
                f" unchoke {progress.unchoked_at - progress.interested_at:.2f} s after interested;"
                f" first block {progress.first_block_at - progress.unchoked_at:.3f} s after the unchoke;"
                f" {progress.blocks} blocks, the last {seconds:.3f} s after the first;"
                f" {nbytes / 1048576 / (progress.last_block_at - progress.unchoked_at):.1f} MiB/s from the"
                f" unchoke; chokes during the transfer {progress.chokes};"
                f" messages {result.messages}"
                f"\nTransmission's view: flags {peer['flagStr']!r} isUTP={peer['isUTP']}"
                f" client={peer['clientName']!r},"
                f" uploadedEver {view['uploadedEver']}; ours: {stats}"
                f"\nhost UDP RcvbufErrors during the download (every socket on the host):"
                f" {None if drops_before is None or drops_after is None else drops_after - drops_before}"
            )
            passed = True
    finally:
        record(version, passed, nbytes, mib_per_s)
