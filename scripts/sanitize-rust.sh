#!/usr/bin/env bash
# The managed runtime's real-socket tests (the Rust stream API over loopback UDP: driver and
# pool threads, wakers, the held-send queue, shutdown and finish) under ThreadSanitizer, and
# then under AddressSanitizer.
#
# Both builds are nightly Rust with -Zbuild-std, so that std, parking_lot and crossbeam are
# instrumented with the crate: TSan then sees their synchronisation (without it, every
# hand-over through a channel or a lock is reported as a race), and ASan checks std's copies and
# allocations made for us. Each sanitizer has a target directory of its own
# ($CARGO_TARGET_DIR/tsan, shared with tsan-managed.sh, and $CARGO_TARGET_DIR/sanitize-address;
# CARGO_TARGET_DIR defaulting to target). A
# report halts the test that hits it (halt_on_error=1) and fails the run; ASan's leak check
# runs at the exit of every test binary.
#
# usage: scripts/sanitize-rust.sh [thread|address]...   (default both; prints PASS/FAIL each)
#
# Which tests: TESTS below, tests/stream.rs's 64 MiB each way included (10.5 s under TSan).
# stream_peer_killed waits out real retransmission timeouts (about 31 s by design) and
# stream_pmtu needs network namespaces (root), so both stay out. The instrumentation is checked
# to be live: every test binary run must call the sanitizer's entry points.
#
# Cost, measured on the shared 2-core machine (load 5 to 7 from other builds): each sanitizer's
# cold build (std, the dependencies, dev-dependencies and the four test binaries) takes about
# 5 min 15 s of CPU (6 to 12 min wall there); the tests then take 40 s (thread) and 10 s (address).
# CI runs `thread` only: the Python suite under ASan (scripts/sanitize-python.sh) drives the
# same runtime through the C API, at half the build cost.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'sanitize-rust: %s\n' "$*"; }

TESTS=(--test stream --test stream_shutdown --test stream_finish --test held_sends)

if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    say "installing rust-src for nightly"
    rustup component add rust-src --toolchain nightly >/dev/null
fi
target=x86_64-unknown-linux-gnu
base=${CARGO_TARGET_DIR:-target}
sanitizers=("$@")
[[ ${#sanitizers[@]} -gt 0 ]] || sanitizers=(thread address)

failed=0
for san in "${sanitizers[@]}"; do
    case $san in
        thread) export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ;;
        address) export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1" ;;
        *) say "unknown sanitizer '$san' (thread or address)"; exit 2 ;;
    esac
    start=$SECONDS
    log=$base/sanitize-$san.log
    mkdir -p "$base"
    say "$san: building and running ${TESTS[*]}"
    ok=1
    # ThreadSanitizer shares scripts/tsan-managed.sh's build directory: the same flags, so std
    # and the dependencies are built once for both.
    dir=$base/sanitize-$san
    [[ $san == thread ]] && dir=$base/tsan
    RUSTFLAGS="-Zsanitizer=$san" CARGO_TARGET_DIR=$dir \
        cargo +nightly test --locked -Zbuild-std --target $target "${TESTS[@]}" \
        >"$log" 2>&1 || ok=0
    # Live instrumentation: every test binary run calls the sanitizer's entry points.
    entry=$([[ $san == thread ]] && echo __tsan_func_entry || echo __asan_report_load8)
    bins=$(grep -Eo '\([^)]*/deps/[^)]*\)' "$log" | tr -d '()' || true)
    [[ -n $bins ]] || ok=0
    for bin in $bins; do
        nm "$bin" | grep "$entry" >/dev/null || { say "$san: $bin is not instrumented (no $entry)"; ok=0; }
    done
    passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{n += $1} END {print n + 0}')
    if [[ $ok == 1 ]]; then
        say "$san: $passed tests passed in $((SECONDS - start)) s: PASS"
    else
        grep -E -A40 'WARNING: ThreadSanitizer|ERROR: (Address|Leak)Sanitizer|panicked|^error' "$log" | head -80
        say "$san: FAIL after $((SECONDS - start)) s (log: $log)"
        failed=1
    fi
done
exit $failed
