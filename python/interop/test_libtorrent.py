"""Interop with libtorrent-rasterbar's own uTP, BitTorrent on top, both directions, two paths.

libtorrent runs in this process (its session has its own threads; our calls release the GIL),
restricted to uTP on 127.0.0.1: TCP off both ways, DHT, LSD, UPnP and NAT-PMP off from the
session's construction, so nothing leaves the host. The torrent is a random file made into a v1
torrent by libtorrent's own ``create_torrent``.

Each direction runs on two paths (the ``path`` parameter):

- ``direct``: 64 MiB straight over loopback.
- ``relay``: 4 MiB through ``udp-relay`` (src/bin/udp-relay.rs), started here as a
  subprocess with the options of the libutp cells (scripts/interop-libutp.sh): 25 ms each way
  (50 ms RTT), 2 % loss, 2 % held back 10 ms (reordering), 0.5 % duplicated, each direction,
  the first 3 datagrams each way spared from loss. The relay listens on an ephemeral port of
  127.0.0.1 and forwards to the seeder, whichever side seeds; the downloader connects to the
  relay. The relay's counters at exit must show drops, duplicates and reordering of the data.

- ``libtorrent->rutp``: a libtorrent seeder; our client (``rutp.Socket.connect``) does the
  BitTorrent handshake, requests every block, checks every piece's SHA-1, and the bytes equal
  the file.
- ``rutp->libtorrent``: our seeder accepts libtorrent's connection (``connect_peer`` to our
  port) and serves it until libtorrent is seeding; its file equals the original.

In both, libtorrent must say it used uTP: the peer's ``utp_socket`` flag and its session's
uTP packet counters. Every wait is bounded. Each case prints one table line and appends it to
``$RUTP_INTEROP_DIR/libtorrent.txt`` (default ``target/interop`` of the checkout).

Environment: ``RUTP_RELAY`` the udp-relay program (default: next to ``$RUTP_LIBRARY``, else
``target/release/udp-relay`` of the checkout); ``RUTP_RELAY_SEED`` the relay's seed (default 7).
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

import bittorrent
import rutp

Address = Tuple[str, int]

SIZES = {"direct": 64 * 1024 * 1024, "relay": 4 * 1024 * 1024}
SCENARIOS = {
    "direct": f"bittorrent {SIZES['direct'] >> 20} MiB",
    "relay": f"bittorrent {SIZES['relay'] >> 20} MiB via relay 50 ms RTT 2% loss",
}
# Seconds for any one transfer (and any single read): far above the few seconds a direct one
# takes and the 15-20 s of a relayed one.
DEADLINES = {"direct": 120.0, "relay": 60.0}
# What scripts/interop-libutp.sh gives its impaired cells (see its header).
RELAY_OPTIONS = ["--delay-ms", "25", "--loss", "0.02", "--reorder", "0.02", "--reorder-ms", "10",
                 "--dup", "0.005", "--spare-first", "3"]
RELAY_COUNTERS = re.compile(
    r"^udp-relay: (c2s|s2c) received (\d+) forwarded (\d+) dropped (\d+) duplicated (\d+)"
    r" reordered (\d+)$", re.M)
# The relay's tally of what it forwarded: packet types, then extensions as type/length xcount.
RELAY_TALLY = re.compile(r"^udp-relay: (c2s|s2c) types .* extensions(.*) not-uTP (\d+)$", re.M)
SELECTIVE_ACK = 1
# Cells that fail for a known defect of ours: strict xfails, so the fix makes them fail until the
# entry goes. Their table line still says FAIL.
KNOWN_DEFECTS: Dict[Tuple[str, str], str] = {
    # ("relay", "rutp->libtorrent") was one until our decoder accepted libtorrent's selective
    # ACKs of 1-3 bytes (src/proto/packet/sack.rs).
}
# peer_info::utp_socket; the Python binding does not export it. It is the bit after
# i2p_socket (1 << 16) in libtorrent's peer_info.hpp.
UTP_SOCKET_FLAG = 1 << 17
CHECKOUT = Path(__file__).resolve().parents[2]
OUT_DIR = Path(os.environ.get("RUTP_INTEROP_DIR", CHECKOUT / "target" / "interop"))


@pytest.fixture(scope="module")
def lt() -> Any:
    try:
        import libtorrent
    except ImportError as exc:
        pytest.fail(
            f"libtorrent is not installed ({exc}); scripts/interop-libtorrent.sh installs the PyPI "
            "wheel into target/interop-venv (pip install libtorrent)",
            pytrace=False,
        )
    return libtorrent


def lt_version(lt: Any) -> str:
    parts = lt.__version__.split(".")
    return ".".join(parts[:3])


def utp_only_settings(lt: Any, path: str) -> Dict[str, Any]:
    """uTP only, loopback only, nothing that talks to other hosts (see ../shared/peers.md 2.2)."""
    category = lt.alert.category_t
    settings: Dict[str, Any] = {
        "listen_interfaces": "127.0.0.1:0",
        "outgoing_interfaces": "127.0.0.1",
        "enable_outgoing_tcp": False,
        "enable_incoming_tcp": False,
        "enable_outgoing_utp": True,
        "enable_incoming_utp": True,
        "enable_dht": False,
        "dht_bootstrap_nodes": "",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Plaintext BitTorrent only: our peer does not speak message stream encryption, and
        # libtorrent would otherwise try an encrypted handshake first on its outgoing connection.
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.enabled),
        # Every peer is 127.0.0.1 (through the relay too), told apart by port only.
        "allow_multiple_connections_per_ip": True,
        "upload_rate_limit": 0,
        "download_rate_limit": 0,
        # As large as ours (the runtime asks for 4 MiB): with the 208 KiB default a window burst
        # overflows the receiving socket on loopback (peers.md, TL;DR).
        "recv_socket_buffer_size": 4 << 20,
        "send_socket_buffer_size": 4 << 20,
        "alert_mask": category.error_notification | category.peer_notification
        | category.connect_notification | category.status_notification,
    }
    if path == "relay":
        # libtorrent closes a uTP connection ("Socket timed out") when its oldest unacknowledged
        # packet times out after utp_num_resends (default 3) transmissions, fast resends
        # included. At 2 % loss some packet of the few thousand now and then loses all three
        # copies (1 of our first 4 libtorrent->rutp runs): a give-up policy, not interop.
        settings["utp_num_resends"] = 10
    return settings


@pytest.fixture(scope="module", params=["direct", "relay"])
def path(request: pytest.FixtureRequest) -> str:
    """The way between the peers: straight over loopback, or through the impairment relay."""
    return str(request.param)


@pytest.fixture(scope="module")
def torrent(lt: Any, path: str, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """A random file of the path's size and its v1 torrent, made by libtorrent."""
    size = SIZES[path]
    root = tmp_path_factory.mktemp(f"libtorrent-{path}")
    seed_dir = root / "seed"
    seed_dir.mkdir()
    content = os.urandom(size)
    (seed_dir / "data.bin").write_bytes(content)
    # Piece size 0: libtorrent picks it (128 KiB for 64 MiB, 32 KiB for 4 MiB).
    creator = lt.create_torrent(lt.list_files(str(seed_dir / "data.bin")), 0, lt.create_torrent.v1_only)
    lt.set_piece_hashes(creator, str(seed_dir))
    raw = lt.bencode(creator.generate())
    (root / "data.torrent").write_bytes(raw)
    meta = bittorrent.Metainfo.parse(raw)
    info = lt.torrent_info(str(root / "data.torrent"))
    # Our metainfo reader agrees with libtorrent's on what identifies and splits the torrent.
    assert meta.info_hash.hex() == str(info.info_hashes().v1)
    assert (meta.length, meta.piece_length) == (size, info.piece_length())
    assert meta.piece_count == info.num_pieces()
    return {"root": root, "seed_dir": seed_dir, "content": content, "meta": meta, "size": size}


def relay_program() -> Path:
    """``$RUTP_RELAY``, else udp-relay next to ``$RUTP_LIBRARY``, else the checkout's release build."""
    named = os.environ.get("RUTP_RELAY")
    if named:
        candidates = [Path(named)]
    else:
        library = os.environ.get("RUTP_LIBRARY")
        candidates = [Path(library).parent / "udp-relay"] if library else []
        candidates.append(CHECKOUT / "target" / "release" / "udp-relay")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        f"udp-relay not found (looked for {', '.join(map(str, candidates))}); build it with "
        "cargo build --release --bin udp-relay (scripts/interop-libtorrent.sh does)", pytrace=False)


class Relay:
    """One udp-relay process: 127.0.0.1 on an ephemeral port, forwarding to ``to`` and back.

    Its stdin is a pipe it exits on (``--exit-on-eof``), so it does not outlive this process,
    and ``--duration`` bounds it too. Its stderr (the address line, the counters at exit) goes to
    ``log``.
    """

    def __init__(self, to: Address, seed: int, lifetime: float, log: Path) -> None:
        self.log = log
        self.seed = seed
        self.counters: Optional[Dict[str, Dict[str, int]]] = None
        # Per direction: {(extension type, body length): datagrams}, and datagrams not uTP.
        self.extensions: Dict[str, Dict[Tuple[int, int], int]] = {}
        self.not_utp: Dict[str, int] = {}
        command = [str(relay_program()), "--listen", "127.0.0.1:0", "--to", f"{to[0]}:{to[1]}",
                   *RELAY_OPTIONS, "--seed", str(seed), "--duration", str(int(lifetime)), "--exit-on-eof"]
        with open(log, "wb") as err:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=err)
        self.address = self._listening_address()

    def _listening_address(self) -> Address:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log.read_text())
            if found:
                return ("127.0.0.1", int(found.group(1)))
            if self.process.poll() is not None:
                break
            time.sleep(0.01)
        self.stop()
        pytest.fail(f"udp-relay did not start: {self.log.read_text().strip()!r}", pytrace=False)

    def stop(self) -> Dict[str, Dict[str, int]]:
        """Ends the relay (SIGTERM; SIGKILL after 10 s) and returns its counters by direction."""
        if self.counters is not None:
            return self.counters
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdin is not None:
            self.process.stdin.close()
        names = ("received", "forwarded", "dropped", "duplicated", "reordered")
        self.counters = {
            found.group(1): dict(zip(names, map(int, found.groups()[1:])))
            for found in RELAY_COUNTERS.finditer(self.log.read_text())
        }
        for found in RELAY_TALLY.finditer(self.log.read_text()):
            seen = re.findall(r"(\d+)/(\d+) x(\d+)", found.group(2))
            self.extensions[found.group(1)] = {(int(t), int(n)): int(c) for t, n, c in seen}
            self.not_utp[found.group(1)] = int(found.group(3))
        return self.counters


class Route:
    """How the downloader reaches the seeder on this path: directly, or through a Relay."""

    def __init__(self, path: str, workdir: Path) -> None:
        self.path = path
        self.workdir = workdir
        self.relay: Optional[Relay] = None

    def to(self, seeder: Address) -> Address:
        """The address to connect to for reaching ``seeder``."""
        if self.path == "direct":
            return seeder
        seed = int(os.environ.get("RUTP_RELAY_SEED", "7"))
        self.relay = Relay(seeder, seed, DEADLINES[self.path] + 60, self.workdir / "relay.log")
        print(f"\nudp-relay {self.relay.address[1]} -> seeder {seeder[1]}, seed {seed}")
        return self.relay.address

    def check_impairment(self, ours: str) -> str:
        """Stops the relay and checks that it impaired the data and what each side sent: every
        datagram was uTP, and our selective ACKs (``ours``: "c2s" or "s2c") have the lengths
        BEP 29 and libutp expect, multiples of 4. A summary for the log."""
        if self.relay is None:
            return "direct path"
        counters = self.relay.stop()
        assert self.relay.not_utp == {"c2s": 0, "s2c": 0}, self.relay.log.read_text()
        our_sacks = {n for (t, n) in self.relay.extensions[ours] if t == SELECTIVE_ACK}
        assert all(n % 4 == 0 for n in our_sacks), f"our selective ACK lengths {sorted(our_sacks)}"
        assert set(counters) == {"c2s", "s2c"}, f"udp-relay counters: {self.relay.log.read_text()!r}"
        # The relay forwards to the seeder, so the data goes server to client.
        data = counters["s2c"]
        assert data["dropped"] > 0 and data["duplicated"] > 0 and data["reordered"] > 0, counters
        assert counters["c2s"]["dropped"] > 0, counters
        return (f"udp-relay seed {self.relay.seed}, counters {counters},"
                f" extensions (type, length): count {self.relay.extensions}")

    def peer_selective_ack_lengths(self, theirs: str) -> List[int]:
        """The lengths of the selective ACKs the peer sent (after ``check_impairment``)."""
        assert self.relay is not None
        return sorted({n for (t, n) in self.relay.extensions[theirs] if t == SELECTIVE_ACK})

    def close(self) -> None:
        if self.relay is not None and self.relay.counters is None:
            print(f"\nudp-relay counters at teardown: {self.relay.stop()}")


@pytest.fixture
def route(path: str, tmp_path: Path) -> Iterator[Route]:
    route = Route(path, tmp_path)
    try:
        yield route
    finally:
        route.close()


def expect_known_defect(request: pytest.FixtureRequest, path: str, direction: str) -> None:
    reason = KNOWN_DEFECTS.get((path, direction))
    if reason:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def wait_for(what: str, predicate: Callable[[], bool], timeout: float) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(0.02)


class AlertLog:
    """libtorrent's alerts as text with their time since ``started``: evidence when a cell fails."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.started = time.monotonic()
        self.lines: List[str] = []

    def drain(self) -> None:
        for alert in self.session.pop_alerts():
            self.lines.append(f"{time.monotonic() - self.started:7.2f} s {alert.what()}: {alert.message()}")

    def wait_for(self, kind: Any, timeout: float) -> bool:
        """Records alerts until one of type ``kind`` comes (True) or ``timeout`` seconds pass."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.session.wait_for_alert(100)
            for alert in self.session.pop_alerts():
                self.lines.append(f"{time.monotonic() - self.started:7.2f} s {alert.what()}: {alert.message()}")
                if isinstance(alert, kind):
                    return True
        return False

    def dump(self) -> None:
        self.drain()
        print("\nlibtorrent's alerts:\n" + "\n".join(self.lines[-40:]))


def session_counters(lt: Any, session: Any, names: List[str]) -> Dict[str, int]:
    session.post_session_stats()
    end = time.monotonic() + 10
    while time.monotonic() < end:
        session.wait_for_alert(500)
        for alert in session.pop_alerts():
            if isinstance(alert, lt.session_stats_alert):
                values = alert.values  # a dict keyed by metric name in 2.x
                return {name: int(values[name]) for name in names}
    pytest.fail("libtorrent posted no session_stats_alert within 10 s", pytrace=False)


def add_torrent(lt: Any, session: Any, torrent: Dict[str, Any], save_path: Path) -> Any:
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(str(torrent["root"] / "data.torrent"))
    params.save_path = str(save_path)
    return session.add_torrent(params)


def record(lt: Any, path: str, direction: str, passed: bool, nbytes: int, seconds: float) -> str:
    rate = "-"
    if passed and seconds > 0:
        mib_s = nbytes / 1048576 / seconds
        rate = f"{mib_s:.2f}" if mib_s < 10 else f"{mib_s:.1f}"  # as scripts/interop-libutp.sh
    line = " | ".join(
        ["interop", f"libtorrent {lt_version(lt)}", SCENARIOS[path], direction,
         "PASS" if passed else "FAIL", str(nbytes), rate]
    )
    print("\n" + line)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUT_DIR / "libtorrent.txt", "a") as out:
        out.write(line + "\n")
    return line


def stats_of(stream: Any) -> Optional[rutp.StreamStats]:
    """Our connection's counters, or None once the library no longer has it."""
    try:
        return stream.stats()
    except OSError:
        return None


def sha1_file(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def test_rutp_downloads_every_piece_from_a_libtorrent_seeder(
    request: pytest.FixtureRequest, lt: Any, path: str, torrent: Dict[str, Any], route: Route
) -> None:
    expect_known_defect(request, path, "libtorrent->rutp")
    meta, size, deadline = torrent["meta"], torrent["size"], DEADLINES[path]
    session = lt.session(utp_only_settings(lt, path))
    alerts = AlertLog(session)
    passed, nbytes, seconds = False, 0, 0.0
    try:
        handle = add_torrent(lt, session, torrent, torrent["seed_dir"])
        wait_for("libtorrent to check the file and start seeding", lambda: handle.status().is_seeding,
                 deadline)
        port = session.listen_port()
        assert port > 0
        target = route.to(("127.0.0.1", port))

        with rutp.Socket(("127.0.0.1", 0)) as ours:
            started = time.monotonic()
            stream = ours.connect(target, timeout=10)
            try:
                result = bittorrent.download(stream, meta, pipeline=64, timeout=deadline)
                seconds = time.monotonic() - started
                # Asked while our connection is still open: how libtorrent sees it.
                peers = handle.get_peer_info()
            finally:
                print(f"\nour connection after {time.monotonic() - started:.2f} s: {stats_of(stream)}")
                stream.close()

        assert result.remote.info_hash == meta.info_hash
        assert result.remote.peer_id.startswith(b"-LT"), result.remote.peer_id
        assert result.pieces_verified == meta.piece_count
        assert bytes(result.data) == torrent["content"]
        nbytes = len(result.data)

        assert len(peers) == 1, f"libtorrent lists {len(peers)} peers"
        assert peers[0].flags & UTP_SOCKET_FLAG, "libtorrent's peer is not on a uTP socket"
        counters = session_counters(
            lt, session, ["peer.num_tcp_peers", "utp.utp_packets_in", "utp.utp_payload_pkts_out",
                          "net.sent_payload_bytes"])
        assert counters["peer.num_tcp_peers"] == 0, counters
        assert counters["utp.utp_payload_pkts_out"] >= size // 1500, counters
        assert counters["net.sent_payload_bytes"] >= size, counters
        # We connect to the relay: our packets go c2s.
        impairment = route.check_impairment(ours="c2s")
        print(f"\nhandshake answered in {result.handshake_seconds * 1000:.1f} ms, messages {result.messages},"
              f" libtorrent counters {counters}; {impairment}")
        passed = True
    finally:
        if not passed:
            alerts.dump()
        record(lt, path, "libtorrent->rutp", passed, nbytes, seconds)


def test_libtorrent_downloads_everything_from_a_rutp_seeder(
    request: pytest.FixtureRequest, lt: Any, path: str, torrent: Dict[str, Any], route: Route
) -> None:
    expect_known_defect(request, path, "rutp->libtorrent")
    meta, size, deadline = torrent["meta"], torrent["size"], DEADLINES[path]
    leech_dir = torrent["root"] / "leech"
    leech_dir.mkdir()
    served = bittorrent.SeedResult()
    failures: List[BaseException] = []
    ours_stats: List[Optional[rutp.StreamStats]] = []
    alerts: Optional[AlertLog] = None
    passed, nbytes, seconds = False, 0, 0.0

    try:
        with rutp.Socket(("127.0.0.1", 0)) as ours:
            accepted: List[Any] = []

            def serve() -> None:
                try:
                    stream, _ = ours.accept(timeout=deadline)
                    accepted.append(stream)
                    bittorrent.seed(stream, meta, torrent["content"], served, timeout=deadline)
                except BaseException as exc:  # reported by the main thread
                    failures.append(exc)

            seeder = threading.Thread(target=serve, name="rutp-seeder", daemon=True)
            seeder.start()
            session = lt.session(utp_only_settings(lt, path))
            alerts = AlertLog(session)
            try:
                handle = add_torrent(lt, session, torrent, leech_dir)
                wait_for("libtorrent to check its (empty) download directory",
                         lambda: handle.status().state not in (lt.torrent_status.checking_files,
                                                                lt.torrent_status.checking_resume_data),
                         deadline)
                target = route.to(ours.getsockname())
                started = time.monotonic()
                handle.connect_peer(target)
                on_utp = set()
                first_payload = started

                seeder_ended: List[float] = []

                def complete() -> bool:
                    nonlocal first_payload
                    alerts.drain()
                    if failures:
                        raise failures[0]
                    if first_payload == started and served.bytes_served:
                        first_payload = time.monotonic()
                    for peer in handle.get_peer_info():
                        on_utp.add(bool(peer.flags & UTP_SOCKET_FLAG))
                    if handle.status().is_seeding:
                        return True
                    # libtorrent closes the connection once it is complete; closing it earlier (a
                    # failed hash, a protocol error) ends the download, so do not wait for the deadline.
                    if not seeder.is_alive():
                        seeder_ended.append(time.monotonic())
                        if seeder_ended[-1] - seeder_ended[0] > 5:
                            status = handle.status()
                            pytest.fail(
                                f"libtorrent closed the connection to our seeder ({served.ended_by}) with"
                                f" {status.total_wanted_done} of {size} bytes done"
                                f" ({served.bytes_served} served)", pytrace=False)
                    return False

                wait_for("libtorrent to download the torrent from our seeder", complete, deadline)
                seconds = time.monotonic() - started
                counters = session_counters(
                    lt, session, ["peer.num_tcp_peers", "utp.utp_payload_pkts_in", "net.recv_payload_bytes"])
                # libtorrent reports the download complete once every piece passed its hash; its
                # disk threads may still be writing them. The file is read once they are done.
                handle.flush_cache()
                assert alerts.wait_for(lt.cache_flushed_alert, deadline), "no cache_flushed_alert"
                session.remove_torrent(handle)
                wait_for("libtorrent to release the torrent", lambda: not session.get_torrents(), deadline)

                assert sha1_file(leech_dir / meta.name) == hashlib.sha1(torrent["content"]).hexdigest()
                nbytes = (leech_dir / meta.name).stat().st_size
                assert served.remote is not None and served.remote.peer_id.startswith(b"-LT")
                assert served.bytes_served >= size, f"we served {served.bytes_served} bytes"
                assert on_utp == {True}, f"libtorrent's peer utp_socket flags seen: {on_utp}"
                assert counters["peer.num_tcp_peers"] == 0, counters
                assert counters["utp.utp_payload_pkts_in"] >= size // 1500, counters
                assert counters["net.recv_payload_bytes"] >= size, counters
                wait = first_payload - started
                print(f"\nwe served {served.blocks_served} blocks in {seconds:.2f} s; libtorrent counters"
                      f" {counters}; our first block went out {wait:.2f} s after connect_peer (libtorrent's"
                      f" connection scheduling), then {size / 1048576 / (seconds - wait):.2f} MiB/s")
            finally:
                for stream in accepted:
                    ours_stats.append(stats_of(stream))
                    stream.close()
            seeder.join(timeout=10)
            assert not seeder.is_alive(), "our seeder did not finish after the connection closed"
            print(f"our seeder's connection ended by {served.ended_by or failures};"
                  f" our connection: {ours_stats}")
            if failures and not isinstance(failures[0], (ConnectionError, socket.timeout, OSError)):
                raise failures[0]
        # After our socket's close, which waits for the FINs to pass the relay. libtorrent
        # connects to the relay: its packets go c2s. Losses in our data make it send selective
        # ACKs, sized to what it needs (1 to 3 bytes early on, unlike libutp's 4), and we must
        # have honoured them for the transfer to finish.
        print(route.check_impairment(ours="s2c"))
        if path == "relay":
            lengths = route.peer_selective_ack_lengths("c2s")
            print(f"libtorrent's selective ACK lengths: {lengths}")
            assert lengths, "libtorrent sent no selective ACK through a lossy path"
        passed = True
    finally:
        if alerts is not None and not passed:
            alerts.dump()
        record(lt, path, "rutp->libtorrent", passed, nbytes, seconds)
