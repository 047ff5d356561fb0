#!/usr/bin/env bash
# Issue 9's benchmark table on 127.0.0.1: throughput and CPU per GiB of one connection (ours
# managed, ours through the libutp C API, the reference libutp, libtorrent, raw UDP with and
# without GSO), ping-pong latency, syscalls per datagram of the managed runtime, the cost of
# 10,000 idle connections, and many concurrent transfers against one connection moving the same
# bytes. Prints one table with every figure, its target and PASS/FAIL.
#
# usage: scripts/bench-perf.sh [--size-mib N] [--runs N] [--sockbuf BYTES] [--cases LIST]
#                              [--pings N] [--warmup N] [--ping-size BYTES] [--syscall-mib N]
#                              [--idle quick|full|skip] [--many N[xMIB]|skip]
#                              [--udp-seconds N] [--timeout SECONDS] [--json FILE] [--plot FILE.png]
#
#   --size-mib N      bytes per throughput run (default 1024 MiB), --runs N runs (default 3),
#                     the median is reported; the cases run interleaved, run by run
#   --sockbuf BYTES   SO_RCVBUF/SO_SNDBUF of every peer (default 4194304; 0: OS defaults)
#   --cases LIST      subset of utpcat,ours-c,ref-c,lt,udp,udp-gso (default all)
#   --pings N         measured round trips per latency case (default 2000, after --warmup 200)
#   --syscall-mib N   size of the transfer whose syscalls are counted (default 256; 0 skips)
#   --idle MODE       quick (default: examples/idle_cost, one 40 s window, about 45 s),
#                     full (its defaults: 60 s baseline and 60 s window) or skip
#   --many N[xMIB]    examples/many_transfers: N concurrent connections of MIB MiB each (default
#                     1000x1, about 20 s), then the same bytes over one connection; skip: not
#                     run. Issue 9's row is 10000x1: on a 2-core machine that took 3 to 4
#                     minutes and a 14 GB peak resident size (each connection queues its 1 MiB
#                     send buffer at once)
#   --json FILE       the table, the medians and every run's figures as JSON
#   --plot FILE       a PNG: MiB/s per case, and CPU s/GiB of each side per case (matplotlib)
#
# What each figure is and how it is measured: scripts/bench_perf.py. Exit status 0 when every
# measurement ran (a FAIL against a target does not change it: the figures are the product).
#
# Builds: our crate (release: utpcat, libutp.so, examples pingpong and idle_cost, and with the
# async feature examples/many_transfers; CARGO_TARGET_DIR is honoured), the reference libutp (scripts/reference-libutp.sh, npm package utp-native), the C
# programs examples/c/utp_netcat.c and examples/c/utp_pingpong.c against each library and
# examples/c/udp_blast.c with gcc. A venv (target/bench-venv, scripts/lib-venv.sh) gets
# libtorrent 2.1.x and matplotlib from PyPI; a failed install fails the lt case (or --plot), not
# the rest. Counting syscalls uses perf (syscall tracepoints), or strace (also when
# BENCH_PERF_SYSCALLS=strace; installed with apt when neither is there and we are root).
# Scratch files go to <target dir>/bench-perf.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cc=${CC:-gcc}
# shellcheck disable=SC2034 # read by scripts/lib-venv.sh
tag=bench-perf.sh
python=''
say() { printf 'bench-perf: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

json='' plot='' many=1000x1 cases='utpcat,ours-c,ref-c,lt,udp,udp-gso' syscall_mib=256
pass=()
while [ $# -gt 0 ]; do
    case $1 in
    --json | --plot | --cases | --syscall-mib | --size-mib | --runs | --sockbuf | --pings | \
        --warmup | --ping-size | --idle | --many | --udp-seconds | --timeout)
        [ $# -ge 2 ] || die "$1 needs a value"
        case $1 in
        --json) json=$(realpath -m "$2") ;;
        --plot) plot=$(realpath -m "$2") ;;
        --cases) cases=$2 ;;
        --syscall-mib) syscall_mib=$2 ;;
        --many) many=$2 ;;
        *) pass+=("$1" "$2") ;;
        esac
        shift 2
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done

command -v python3 >/dev/null || die "no python3"
command -v "$cc" >/dev/null || die "no $cc"
target=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
work=$target/bench-perf
mkdir -p "$work"

if [ "$many" != skip ]; then
    # Its own build: the async feature stays out of the libutp.so below (built second, so the
    # library in the target directory is the one without it).
    say "building the example many_transfers (release, feature async)"
    cargo build --locked --release --quiet --features async --example many_transfers
fi
say "building utpcat, libutp.so and the examples pingpong and idle_cost (release)"
cargo build --locked --release --quiet --lib --bin utpcat --example pingpong --example idle_cost

# Our library, staged as an installed one would be: libutp.so -> its SONAME -> the file.
ours=$work/ours
# shellcheck source=scripts/lib-stage.sh
source scripts/lib-stage.sh
stage_ours "$ours" "$target/release/libutp.so"

say "reference libutp (scripts/reference-libutp.sh)"
ref=$(reference_libutp "$root/target/reference-libutp" "$work/reference.log")

build_c() { # OUT SOURCE INCDIR LIBDIR
    local extra=()
    [[ $(readelf -d "$4/libutp.so") == *"(NEEDED)"*"libstdc++"* ]] && extra+=(-lstdc++)
    "$cc" -std=c99 -O2 -Wall -Wextra -Werror -I"$3" -o "$1" "$2" \
        -L"$4" -lutp "${extra[@]}" -Wl,-rpath,"$4"
}
build_c "$work/utp_netcat-ours" examples/c/utp_netcat.c "$ours/include" "$ours/lib"
build_c "$work/utp_netcat-ref" examples/c/utp_netcat.c "$ref" "$ref"
build_c "$work/utp_pingpong-ours" examples/c/utp_pingpong.c "$ours/include" "$ours/lib"
build_c "$work/utp_pingpong-ref" examples/c/utp_pingpong.c "$ref" "$ref"
"$cc" -std=c99 -O2 -Wall -Wextra -Werror -o "$work/udp_blast" examples/c/udp_blast.c

# Python with libtorrent (the lt case) and matplotlib (--plot), from PyPI into a venv.
py=python3
want=()
[[ ,$cases, == *,lt,* ]] && want+=('libtorrent>=2.1,<2.2')
[ -n "$plot" ] && want+=(matplotlib)
if [ ${#want[@]} -gt 0 ]; then
    # shellcheck source=scripts/lib-venv.sh
    source scripts/lib-venv.sh
    say "venv $target/bench-venv: ${want[*]}"
    if rutp_venv "$target/bench-venv" "${want[@]}"; then
        py=$python
    else
        say "FAIL: cannot install ${want[*]} from PyPI into $target/bench-venv"
        [[ ,$cases, == *,lt,* ]] && say "  the lt case will FAIL"
        [ -n "$plot" ] && say "  no plot will be written" && plot=''
        cases=$(printf '%s' ",$cases," | sed 's/,lt,/,/; s/^,//; s/,$//')
        failed_install=1
    fi
fi

# Counting syscalls: perf's syscall tracepoints, else strace.
if [ "$syscall_mib" != 0 ] && ! command -v perf >/dev/null && ! command -v strace >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        say "installing strace (apt) to count syscalls"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null
    fi
fi

args=(--cases "$cases" --syscall-mib "$syscall_mib" --many "$many")
[ "$many" != skip ] && args+=(--many-transfers "$target/release/examples/many_transfers")
[ -n "$json" ] && args+=(--json "$json")
[ -n "$plot" ] && args+=(--plot "$plot")
status=0
"$py" scripts/bench_perf.py \
    --utpcat "$target/release/utpcat" \
    --netcat-ours "$work/utp_netcat-ours" --lib-ours "$ours/lib" \
    --netcat-ref "$work/utp_netcat-ref" --lib-ref "$ref" \
    --udp-blast "$work/udp_blast" \
    --pingpong "$target/release/examples/pingpong" \
    --pingpong-ours "$work/utp_pingpong-ours" --pingpong-ref "$work/utp_pingpong-ref" \
    --lt-python "$py" --lt-helper scripts/bench_lt_peer.py \
    --idle-cost "$target/release/examples/idle_cost" \
    --workdir "$work/runs" "${args[@]}" "${pass[@]}" || status=$?
if [ "${failed_install:-0}" = 1 ]; then
    say "FAIL: the libtorrent/matplotlib install failed (see above)"
    exit 1
fi
exit "$status"
