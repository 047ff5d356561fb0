#!/usr/bin/env bash
# Instructions per MiB through the uTP engine alone: benches/c/inmem_pair.c (two libutp contexts
# in one process, an in-memory link, a virtual clock) under valgrind's callgrind, linked against
# our libutp.so and against the reference libutp.
#
# usage: scripts/bench-callgrind.sh [--size-mib N] [--steady]   ours and the reference: a table
#        scripts/bench-callgrind.sh --guard             ours only, against the committed figure
#        scripts/bench-callgrind.sh --bless             ours only, rewrites the committed figure
#
# Counted: the instructions executed inside harness_transfer() (every library call: utp_init to
# utp_destroy, the connection, N MiB of data, the close) minus those of the harness's own
# callbacks (harness_cb_*: copying datagrams onto the link, checking the bytes), through
# callgrind's --toggle-collect. Process start-up and the program's set-up are not counted. The
# program is deterministic (virtual clock, fixed random sequence), so two runs give the same count.
# Callgrind counts every iteration of a `rep movsb` or `rep stosb` as one instruction, and glibc's
# memcpy/memset switch to those above about 2 KiB, which would charge a large copy one
# instruction per byte; GLIBC_TUNABLES raises both thresholds (glibc manual, "Hardware
# Capability Tunables") so every copy runs the vector loop, as packet-sized copies already do.
#
# Default mode: builds our release libutp.so and the reference libutp (scripts/reference-libutp.sh;
# REFERENCE_DIR overrides its output directory), compiles inmem_pair.c against each with the same
# flags, moves --size-mib (default 64) with each, and prints instructions, instructions per MiB
# and per datagram, and the ratio ours/reference with PASS/FAIL against issue 9's target (at most
# 0.5). The target does not fail the script (the engine work to meet it is in progress); a failed
# or corrupted transfer does. --steady adds the marginal cost of the steady state: each library
# also moves 256 and 512 MiB, and (count(512) - count(256)) / 256 is printed with its ratio. (The
# reference's cost per packet grows with its window, which takes about 200 MiB to reach its
# 1 MiB cap here, so its figure per MiB depends on the size; ours hardly does.) About 2 minutes.
#
# --guard (scripts/test.sh): ours only, 64 MiB; exits 1 if its instructions per MiB are more than
# 10 % above the figure in benches/callgrind-ours.txt. --bless: ours only, 64 MiB; writes that file.
# The figure depends on the compiler and on the C library's string functions for this CPU; bless it
# again after a toolchain change, or after an engine change that makes it faster.
#
# Needs cargo, gcc, valgrind (installed with apt-get when missing and running as root).
# Scratch files go to <target dir>/bench-callgrind.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cc=${CC:-gcc}
say() { printf 'bench-callgrind: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# The committed figure and the size it is measured at (the guard and --bless use this size).
readonly FIGURE_FILE=benches/callgrind-ours.txt
readonly GUARD_MIB=64
# The guard fails above the committed figure plus this many percent (issue 9).
readonly GUARD_PERCENT=10
# Issue 9's target: ours at most half the reference's instructions per MiB.
readonly TARGET_RATIO=0.5
# No `rep movsb`/`rep stosb` in memcpy/memset (see the header): thresholds of 1 TiB.
readonly NO_REP=1099511627776
readonly TUNABLES=glibc.cpu.x86_rep_movsb_threshold=$NO_REP:glibc.cpu.x86_rep_stosb_threshold=$NO_REP

mode=table
size_mib=64
steady=0
while (($#)); do
    case $1 in
    --guard) mode=guard ;;
    --bless) mode=bless ;;
    --steady) steady=1 ;;
    --size-mib)
        [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--size-mib needs a positive integer"
        size_mib=$2
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
[[ $mode == table ]] || size_mib=$GUARD_MIB

command -v "$cc" >/dev/null || die "no $cc"
command -v python3 >/dev/null || die "no python3"
if ! command -v valgrind >/dev/null; then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        die "no valgrind (install it, or run as root on Debian)"
    fi
    say "installing valgrind with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi

target=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
work=$target/bench-callgrind
mkdir -p "$work"

say "building libutp.so (release)"
cargo build --locked --release --quiet --lib

# Our library, staged as an installed one would be: libutp.so -> its SONAME -> the file.
ours=$work/ours
# shellcheck source=scripts/lib-stage.sh
source scripts/lib-stage.sh
stage_ours "$ours" "$target/release/libutp.so"

build_pair() { # OUT INCDIR LIBDIR
    local extra=()
    [[ $(readelf -d "$3/libutp.so") == *"(NEEDED)"*"libstdc++"* ]] && extra+=(-lstdc++)
    "$cc" -std=c99 -O2 -g -Wall -Wextra -Werror -I"$2" -o "$1" benches/c/inmem_pair.c \
        -L"$3" -lutp "${extra[@]}" -Wl,-rpath,"$3"
}

# run_callgrind NAME PROGRAM [MIB]: sets $instr (instructions counted) and $dgrams (datagrams
# moved); MIB defaults to --size-mib.
run_callgrind() {
    local name=$1 prog=$2 mib=${3:-$size_mib}
    local out=$work/callgrind-$1-$mib.out log=$work/run-$1-$mib.log
    say "$name: $mib MiB under callgrind (log: $log)"
    rm -f "$out"
    if ! GLIBC_TUNABLES=$TUNABLES valgrind --tool=callgrind --callgrind-out-file="$out" \
        --toggle-collect='harness_transfer*' --toggle-collect='harness_cb_*' \
        "$prog" "$mib" >"$log" 2>&1; then
        cat "$log" >&2
        die "$name: the transfer failed"
    fi
    grep '^inmem_pair' "$log" >&2
    instr=$(sed -n 's/^totals: *\([0-9][0-9]*\).*/\1/p' "$out")
    dgrams=$(sed -n 's/.* datagrams \([0-9][0-9]*\) .*/\1/p' "$log")
    [[ -n $instr && $instr -gt 0 && -n $dgrams ]] || die "$name: no count in $out or $log"
}

per_mib() { awk -v i="$1" -v m="$size_mib" 'BEGIN { printf "%.0f", i / m }'; }

build_pair "$work/inmem_pair-ours" "$ours/include" "$ours/lib"
run_callgrind ours "$work/inmem_pair-ours"
ours_instr=$instr ours_dgrams=$dgrams
ours_per_mib=$(per_mib "$ours_instr")

case $mode in
bless)
    {
        printf '# Instructions per MiB of our libutp.so: scripts/bench-callgrind.sh --bless'
        printf ' (%d MiB through benches/c/inmem_pair.c under callgrind, harness callbacks' "$GUARD_MIB"
        printf ' excluded, no rep movsb; %s, %s, %s)\n' \
            "$(rustc --version | cut -d' ' -f1-2)" "$(uname -m)" "$(date -u +%Y-%m-%d)"
        printf '%s\n' "$ours_per_mib"
    } >"$FIGURE_FILE"
    say "wrote $FIGURE_FILE: $ours_per_mib instructions per MiB"
    exit 0
    ;;
guard)
    [[ -f $FIGURE_FILE ]] || die "no $FIGURE_FILE (make it with --bless)"
    committed=$(grep -v '^#' "$FIGURE_FILE" | head -n 1 | tr -d '[:space:]')
    [[ $committed =~ ^[0-9]+$ && $committed -gt 0 ]] || die "no figure in $FIGURE_FILE"
    verdict=$(awk -v o="$ours_per_mib" -v c="$committed" -v p="$GUARD_PERCENT" 'BEGIN {
        d = 100 * (o - c) / c
        printf "%s %+.1f", (d > p ? "FAIL" : "PASS"), d }')
    printf 'instructions per MiB: ours %s, committed %s (%s %%; limit +%d %%): %s\n' \
        "$ours_per_mib" "$committed" "${verdict#* }" "$GUARD_PERCENT" "${verdict%% *}"
    if [[ ${verdict%% *} == FAIL ]]; then
        say "more than $GUARD_PERCENT % above $FIGURE_FILE; if intended, run with --bless"
        exit 1
    fi
    awk -v o="$ours_per_mib" -v c="$committed" -v p="$GUARD_PERCENT" \
        'BEGIN { exit !(o < c * (1 - p / 100)) }' &&
        say "more than $GUARD_PERCENT % below $FIGURE_FILE: run with --bless to lock the gain in"
    exit 0
    ;;
esac

say "reference libutp (scripts/reference-libutp.sh)"
ref=$(reference_libutp "$target/reference-libutp" "$work/reference.log")
build_pair "$work/inmem_pair-ref" "$ref" "$ref"
run_callgrind reference "$work/inmem_pair-ref"
ref_instr=$instr ref_dgrams=$dgrams
ref_per_mib=$(per_mib "$ref_instr")

row() { # NAME INSTR PER_MIB DGRAMS
    awk -v n="$1" -v i="$2" -v p="$3" -v d="$4" \
        'BEGIN { printf "| %s | %d | %d | %d | %.0f |\n", n, i, p, d, i / d }'
}
printf '\n%d MiB through benches/c/inmem_pair.c, ' "$size_mib"
printf 'instructions counted by callgrind (library only)\n\n'
printf '| library | instructions | per MiB | datagrams | per datagram |\n'
printf '| --- | ---: | ---: | ---: | ---: |\n'
row "ours (libutp.so, release)" "$ours_instr" "$ours_per_mib" "$ours_dgrams"
row "reference libutp" "$ref_instr" "$ref_per_mib" "$ref_dgrams"
awk -v o="$ours_per_mib" -v r="$ref_per_mib" -v t="$TARGET_RATIO" 'BEGIN {
    x = o / r
    printf "\nratio ours/reference: %.2f (target <= %.1f): %s\n", x, t,
        (x <= t ? "PASS" : "FAIL") }'
if [[ -f $FIGURE_FILE ]]; then
    printf 'committed figure (%s): %s per MiB\n' "$FIGURE_FILE" \
        "$(grep -v '^#' "$FIGURE_FILE" | head -n 1)"
fi

((steady)) || exit 0
# Marginal cost between 256 and 512 MiB: NAME PROGRAM -> prints instructions per MiB.
marginal() {
    run_callgrind "$1" "$2" 256
    local low=$instr
    run_callgrind "$1" "$2" 512
    awk -v a="$low" -v b="$instr" 'BEGIN { printf "%.0f", (b - a) / 256 }'
}
ours_steady=$(marginal ours "$work/inmem_pair-ours")
ref_steady=$(marginal reference "$work/inmem_pair-ref")
awk -v o="$ours_steady" -v r="$ref_steady" -v t="$TARGET_RATIO" 'BEGIN {
    x = o / r
    printf "\nsteady state, (count(512 MiB) - count(256 MiB)) / 256:"
    printf " ours %d, reference %d per MiB\n", o, r
    printf "ratio ours/reference: %.2f (target <= %.1f): %s\n", x, t,
        (x <= t ? "PASS" : "FAIL") }'
