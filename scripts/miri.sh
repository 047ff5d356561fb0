#!/usr/bin/env bash
# Miri (the MIR interpreter, nightly) over the unit tests of the engine (`proto::`) and of the
# libutp C API layer (`ffi::`): undefined behaviour, out-of-bounds or dangling accesses, invalid
# pointer use under the Stacked Borrows rules, leaks, data races between threads, and integer
# overflow (debug assertions) are reported and fail the run.
#
# usage: scripts/miri.sh [EXTRA TEST FILTER...]       (prints "miri: PASS" or "miri: FAIL")
#
# Installs the miri and rust-src components of the nightly toolchain when missing. Miri is slow
# (about 10^3 to 10^4 times native speed), so:
# * property tests run PROPTEST_CASES cases each (default 4; the native suite runs 256), with
#   failure persistence off (it reads the working directory, which Miri's isolation refuses);
# * tests marked `#[cfg_attr(miri, ignore)]` are skipped, each with its reason beside it. They are
#   the simulator-heavy ones that move thousands of packets or run hundreds of control rounds
#   (minutes each under Miri, and the engine is `#![forbid(unsafe_code)]`: what Miri adds there
#   is little), and the 2000-case endpoint fuzzing proptest. `grep -rn 'cfg_attr(miri' src`
#   lists them; the run prints how many were ignored.
# The test binary runs in two shards in parallel (Miri interprets on one core): the C API
# layer's, the congestion controller's, the codec's and the endpoint's extension tests in one,
# the rest of the engine (endpoint, connection, reliability, path MTU, ...) in the other; they
# take about as long.
# Measured on the shared 2-core machine, under a load of 4 to 5 from other builds: 325 s wall
# for the whole script and 4 min 54 s of CPU, about half in each shard (so about 2.5 min wall
# on two idle cores); 163 tests run, 4 ignored.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'miri: %s\n' "$*"; }

installed=$(rustup component list --toolchain nightly --installed 2>/dev/null || true)
if ! grep -q '^miri' <<<"$installed" || ! grep -q '^rust-src' <<<"$installed"; then
    say "installing the miri and rust-src components for nightly"
    rustup component add --toolchain nightly miri rust-src >/dev/null
fi

export PROPTEST_CASES=${PROPTEST_CASES:-4}
export PROPTEST_DISABLE_FAILURE_PERSISTENCE=1
# Miri's isolation hides the host environment: forward the two proptest settings.
export MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-env-forward=PROPTEST_CASES -Zmiri-env-forward=PROPTEST_DISABLE_FAILURE_PERSISTENCE"
out=${CARGO_TARGET_DIR:-target}/miri-logs
mkdir -p "$out"

start=$SECONDS
say "building the unit tests for Miri"
cargo +nightly miri test --locked --lib --no-run --quiet 2>"$out/build.log" || {
    cat "$out/build.log"; say FAIL; exit 1; }

# shard <name> <filter...>: one Miri process over the tests matching any filter.
shard() {
    local name=$1
    shift
    if cargo +nightly miri test --locked --lib --quiet -- "$@" --test-threads 1 \
        >"$out/$name.log" 2>&1; then
        printf '%s\n' "$(grep -E '^test result' "$out/$name.log")" >"$out/$name.ok"
    fi
}
rm -f "$out"/*.ok
shard ffi ffi:: proto::congestion:: proto::packet:: proto::endpoint::extension_tests "$@" &
shard engine proto:: --skip proto::congestion:: --skip proto::packet:: \
    --skip proto::endpoint::extension_tests "$@" &
wait

failed=0
for name in ffi engine; do
    if [[ -f $out/$name.ok ]]; then
        say "shard $name: $(cat "$out/$name.ok")"
    else
        say "shard $name failed (log: $out/$name.log):"
        grep -E -B2 -A30 '^error|panicked|FAILED|Undefined Behavior' "$out/$name.log" | head -80
        failed=1
    fi
done
say "took $((SECONDS - start)) s"
if [[ $failed == 0 ]]; then say PASS; else say FAIL; exit 1; fi
