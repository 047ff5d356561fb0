#!/usr/bin/env bash
# Loopback throughput of one uTP connection: ours against the reference libutp.
#
# usage: scripts/bench-loopback.sh [--size-mib N] [--runs N] [--sockbuf BYTES] [--cases LIST]
#                                  [--timeout SECONDS] [--udp-seconds N] [--json FILE]
#                                  [--ref-seconds SECONDS] [--min-ratio R]
#
# Cases (default all, run interleaved, run by run):
#   utpcat   utpcat -> utpcat: the Rust stream API over our managed runtime
#   ours-c   examples/c/utp_netcat.c -> utp_netcat, both linked against our libutp.so
#   ref-c    the same program, both ends linked against the reference libutp.so
#   udp      the raw UDP ceiling: examples/c/udp_blast.c sending 1402-byte datagrams (the size
#            of a full libutp packet on loopback) with one sendto() per datagram
# Every case uses the same socket buffers (--sockbuf, default 4 MiB on both ends; the kernel
# caps them at net.core.rmem_max/wmem_max; 0 sets nothing, leaving the OS defaults) and moves --size-mib (default 1024) from a
# connecting sender to a listening receiver, verified byte by byte as it arrives
# (scripts/bench_loopback.py). Printed per run and as median [min-max] over --runs (default 3):
# MiB/s, user+sys CPU seconds per GiB of each side, and the host's RcvbufErrors increase; then
# the ratios ours/reference. --ref-seconds caps the reference's runs (their rate is then what
# was delivered by the cap) and --min-ratio adds PASS/FAIL lines (scripts/bench_loopback.py).
#
# Builds: our crate in release mode (cargo; CARGO_TARGET_DIR is honoured), the reference libutp
# with scripts/reference-libutp.sh (npm package utp-native; REFERENCE_DIR overrides its default
# output directory), and the two C programs with gcc. Scratch files go to
# <target dir>/bench-loopback. Needs cargo, gcc, python3 (3.11+, standard library only).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cc=${CC:-gcc}
say() { printf 'bench-loopback: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v python3 >/dev/null || die "no python3"
command -v "$cc" >/dev/null || die "no $cc"
target=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
work=$target/bench-loopback
mkdir -p "$work"

say "building utpcat and libutp.so (release)"
cargo build --locked --release --quiet --lib --bin utpcat

# Our library, staged as an installed one would be: libutp.so -> its SONAME -> the file.
ours=$work/ours
# shellcheck source=scripts/lib-stage.sh
source scripts/lib-stage.sh
stage_ours "$ours" "$target/release/libutp.so"

say "reference libutp (scripts/reference-libutp.sh)"
ref=$(reference_libutp "$root/target/reference-libutp" "$work/reference.log")

build_netcat() { # OUT INCDIR LIBDIR
    local extra=()
    [[ $(readelf -d "$3/libutp.so") == *"(NEEDED)"*"libstdc++"* ]] && extra+=(-lstdc++)
    "$cc" -std=c99 -O2 -Wall -Wextra -Werror -I"$2" -o "$1" examples/c/utp_netcat.c \
        -L"$3" -lutp "${extra[@]}" -Wl,-rpath,"$3"
}
build_netcat "$work/utp_netcat-ours" "$ours/include" "$ours/lib"
build_netcat "$work/utp_netcat-ref" "$ref" "$ref"
"$cc" -std=c99 -O2 -Wall -Wextra -Werror -o "$work/udp_blast" examples/c/udp_blast.c

exec python3 scripts/bench_loopback.py \
    --utpcat "$target/release/utpcat" \
    --netcat-ours "$work/utp_netcat-ours" --lib-ours "$ours/lib" \
    --netcat-ref "$work/utp_netcat-ref" --lib-ref "$ref" \
    --udp-blast "$work/udp_blast" --workdir "$work/runs" "$@"
