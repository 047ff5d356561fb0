#!/usr/bin/env bash
# The managed C API under ThreadSanitizer, with the library instrumented too.
#
# The library is built by nightly Rust with -Zsanitizer=thread and -Zbuild-std (so std and
# parking_lot are instrumented and their synchronisation is visible to TSan), and
# c-tests/test_managed.c and test_misuse_managed.c are compiled by gcc with -fsanitize=thread
# and linked against Rust's TSan runtime (the one the instrumented library was built for). Every
# case of test_managed, then the managed misuse table, runs with halt_on_error=1. First, c-tests/tsan_canary.c (a deliberate data race) is built the same way and
# must be reported: a clean run then means the instrumentation was live.
#
# Needs the nightly toolchain with rust-src (installed with rustup when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'tsan-managed: %s\n' "$*"; }

if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    say "installing rust-src for nightly"
    rustup component add rust-src --toolchain nightly >/dev/null
fi
target=x86_64-unknown-linux-gnu
out=target/tsan
say "building the library with -Zsanitizer=thread (std included)"
RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=$out \
    cargo +nightly build --quiet -Zbuild-std --target $target --lib
lib=$PWD/$out/$target/debug
ln -sf libutp.so "$lib/libutp.so.0"
runtime=$(rustc +nightly --print sysroot)/lib/rustlib/$target/lib/librustc-nightly_rt.tsan.a
[[ -f $runtime ]] || { say "error: no TSan runtime at $runtime"; exit 1; }

build() { # build <source> <output>
    gcc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -g -O1 -fsanitize=thread -Iinclude \
        -c "$1" -o "$2.o"
    g++ -o "$2" "$2.o" -Wl,--whole-archive "$runtime" -Wl,--no-whole-archive \
        -L"$lib" -lutp -Wl,-rpath,"$lib" -lpthread -ldl -lm -lrt
}
build c-tests/tsan_canary.c $out/tsan_canary
build c-tests/test_managed.c $out/test_managed
build c-tests/test_misuse_managed.c $out/test_misuse_managed

if TSAN_OPTIONS=halt_on_error=1 $out/tsan_canary >$out/canary.log 2>&1 ||
    ! grep -q "ThreadSanitizer: data race" $out/canary.log; then
    say "error: the deliberate race in tsan_canary.c was not reported"; cat $out/canary.log; exit 1
fi
say "canary: the deliberate race was reported (instrumentation is live)"

failed=0
for c in pull_transfer two_threads callbacks errors udp_handler destroy_joins flush accept_flood; do
    if TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" timeout 600 \
        $out/test_managed $c >$out/$c.log 2>&1; then
        say "PASS $c"
    else
        say "FAIL $c (log: $out/$c.log)"; head -60 $out/$c.log; failed=1
    fi
done
# Every function of utp_managed.h misused, including from callbacks on the runtime's thread.
if TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" timeout 600 \
    $out/test_misuse_managed >$out/misuse_managed.log 2>&1; then
    say "PASS misuse_managed"
else
    say "FAIL misuse_managed (log: $out/misuse_managed.log)"; head -60 $out/misuse_managed.log; failed=1
fi
exit $failed
