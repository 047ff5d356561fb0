#!/usr/bin/env bash
# Interop with libtorrent-rasterbar's own uTP (issue 7): BitTorrent over our uTP, written with the
# Python package, both directions, 64 MiB, uTP only on 127.0.0.1 (python/interop/test_libtorrent.py;
# test_bittorrent.py checks our BitTorrent helper on its own).
# Installs libtorrent from PyPI (the 2.1.x wheel) and pytest into target/interop-venv, installs our
# package there, and runs the test against the library just built. A failed install fails the run.
# Prints one table line per direction and writes them to target/interop/libtorrent.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
venv="$PWD/target/interop-venv"
out="$PWD/target/interop"

command -v python3 >/dev/null || { echo "interop-libtorrent.sh: python3 is missing" >&2; exit 1; }
cargo build --locked --release --lib --quiet
library="$target_dir/release/libutp.so"
test -f "$library"

if [ ! -x "$venv/bin/python" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
fi
mkdir -p "$out"
rm -f "$out/libtorrent.txt"
if ! "$venv/bin/python" -m pip install --quiet 'libtorrent>=2.1,<2.2' pytest; then
    echo "interop-libtorrent.sh: FAIL: cannot install libtorrent 2.1.x from PyPI into $venv" >&2
    for direction in 'libtorrent->rutp' 'rutp->libtorrent'; do
        echo "interop | libtorrent (not installed) | bittorrent 64 MiB | $direction | FAIL | 0 | -"
    done | tee "$out/libtorrent.txt"
    exit 1
fi
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps ./python

export RUTP_LIBRARY="$library" RUTP_INTEROP_DIR="$out"
"$venv/bin/python" -m pytest python/interop/test_bittorrent.py python/interop/test_libtorrent.py -q -s -p no:cacheprovider
