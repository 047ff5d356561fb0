#!/usr/bin/env bash
# The Transmission cell of issue 7's interop matrix: our BitTorrent client, written with the Python
# package over our uTP, downloads a 16 MiB torrent from a Transmission 3.00 seeder (Debian's
# transmission-cli, which embeds libutp) on 127.0.0.1 only (python/interop/test_transmission.py).
#
# usage: scripts/interop-transmission.sh
#
# Installs transmission-cli with apt when it is missing (root only: otherwise, or when apt fails, the
# cell is written as FAIL and the script exits 1), builds the library (release), installs our package
# and pytest into target/interop-venv (shared with interop-libtorrent.sh) and runs the test against
# the library just built. The test makes the torrent with transmission-create, runs transmission-cli
# under `timeout` with its own settings (DHT, LPD, PEX, port mapping, blocklist off; uTP on;
# plaintext accepted), checks that Transmission 3.00 answers (peer id -TR3000-) and lists our peer
# as uTP, and verifies every piece. Transmission unchokes only at its next choke round (seconds), so
# a run takes about 10-20 s.
#
# One line goes to stdout and to target/interop/transmission.txt:
#   interop | transmission 3.00 | bittorrent 16 MiB | transmission->rutp | PASS/FAIL | bytes | MiB/s
# MiB/s is the data phase: the bytes after the first block over the time from the first block to
# the last (Transmission sends the first one at its next 500 ms upload pulse after the unchoke).
# Exit status: 0 if the cell passed, nonzero otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

out="$PWD/target/interop"
tag=interop-transmission.sh
# shellcheck source=scripts/lib-venv.sh
source scripts/lib-venv.sh

mkdir -p "$out"
rm -f "$out/transmission.txt"

fail_uninstalled() {
    echo "$tag: FAIL: $*" >&2
    echo "interop | transmission (not installed) | bittorrent 16 MiB | transmission->rutp | FAIL | 0 | -" \
        | tee "$out/transmission.txt"
    exit 1
}

if ! command -v transmission-cli >/dev/null || ! command -v transmission-create >/dev/null; then
    [ "$(id -u)" -eq 0 ] || fail_uninstalled "transmission-cli is missing and we are not root to install it (apt-get install transmission-cli)"
    # apt_install exits on failure; run it in a subshell to write the FAIL line instead.
    (apt_install transmission-cli) || fail_uninstalled "apt-get install transmission-cli failed"
    command -v transmission-cli >/dev/null || fail_uninstalled "transmission-cli is still missing after apt-get install"
fi

rutp_library
rutp_venv "$PWD/target/interop-venv" pytest

export RUTP_LIBRARY="$library" RUTP_INTEROP_DIR="$out"
"$python" -m pytest python/interop/test_transmission.py -q -s -p no:cacheprovider
