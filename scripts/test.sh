#!/usr/bin/env bash
# Runs every check and test of the project, as CI does (.ci/run calls this script).
# On a fresh Debian machine it needs only the Rust toolchain (cargo, rustfmt, clippy); later
# parts of the suite install what they need themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> [%d s] %s\n' "$SECONDS" "$*"; }

# Tools the C parts need, installed from Debian's packages when missing (CI runs as root).
need() {
    local missing=()
    for tool in "$@"; do command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}"); done
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

step "formatting"
cargo fmt --all -- --check

step "the engine reads no clock and touches no socket or thread"
bash scripts/check-proto-purity.sh

step "clippy"
cargo clippy --locked --all-targets --features sim,async -- -D warnings

step "docs"
RUSTDOCFLAGS=-Dwarnings cargo doc --locked --no-deps --features sim,async --quiet

step "unit tests"
cargo test --locked --features sim --lib

step "C headers: committed = cbindgen output, and they compile as C99 and C++11 with -pedantic"
cargo test --locked --test headers
for std in "gcc -std=c99 -x c" "g++ -std=c++11 -x c++"; do
    printf '#include "utp.h"\nint main(void) { return utp_init(1) == 0 ? 0 : 1; }\n' |
        $std -Wall -Wextra -Werror -pedantic -Iinclude -fsyntax-only -
done

step "simulator scenarios (one summary line each)"
mkdir -p target
cargo test --locked --features sim --test scenarios -- --nocapture 2>&1 | tee target/scenarios.log |
    grep -E '^(scenario|goodput|target|test result)|FAILED|panicked' || true
grep -q '^test result: ok' target/scenarios.log

step "managed runtime over loopback UDP (Rust stream API)"
cargo test --locked --release --test stream --test stream_shutdown --test stream_peer_killed --test held_sends --test stream_pmtu --test stream_finish --test stream_syn_flood --test idle_memory --test api_misuse -- --nocapture > target/stream-tests.log 2>&1 || {
    tail -60 target/stream-tests.log; exit 1; }
grep -E '^(idle|test result)' target/stream-tests.log

step "load (issue 8): 2,000 connections x 1 MiB to one port under 50,000 spoofed SYNs/s (raw socket, needs root)"
cargo test --locked --release --features async --test load_syn_flood -- --nocapture > target/load.log 2>&1 || {
    tail -60 target/load.log; exit 1; }
grep -E '^(load|test result)' target/load.log

step "async streams (feature async) over loopback UDP, on tokio"
cargo test --locked --features async --test async_stream

step "utpcat against itself and libutp's ucat over 127.0.0.1, 50 MiB each way, byte-exact"
bash scripts/interop-utpcat.sh 50

step "C API interop: our libutp.so against the reference libutp, 50 MiB each way"
cargo build --locked --release --quiet
stage=target/c-api-stage
rm -rf "$stage" && mkdir -p "$stage/include" "$stage/lib"
cp include/utp.h include/utp_types.h "$stage/include/"
cp target/release/libutp.so "$stage/lib/libutp.so.0"
ln -sf libutp.so.0 "$stage/lib/libutp.so"
bash scripts/reference-libutp.sh target/reference-libutp
bash scripts/interop-netcat.sh target/reference-libutp/libutp "$stage" 50
bash scripts/compare-layouts.sh target/reference-libutp/libutp "$stage"

step "real sockets, OS default socket buffers: ours vs the reference libutp (ratio printed)"
# One short run: the transfers must succeed and be byte-exact. The ratio is printed, not
# asserted: the reference's rate varies between runs (3.2-5.3 MiB/s measured, up to 9 MiB/s in
# ../shared/peers.md) and ours with it, so one run is not reliably far enough above the issue's
# 50x (medians measured 66-85x; scripts/bench-default-buffers.sh judges it over 5 runs).
bash scripts/bench-default-buffers.sh --runs 1 --size-mib 32 --ref-seconds 20 --min-ratio 0

step "real sockets: 100 Mbit/s tbf bottleneck between two network namespaces (needs root)"
bash scripts/netns-tbf.sh

step "C test suite (CTest): plain, then AddressSanitizer + UBSan, then valgrind memcheck"
need cmake:cmake pkg-config:pkg-config valgrind:valgrind g++:g++
export CARGO_TARGET_DIR="$PWD/target"
cmake -S . -B target/ctest -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build target/ctest -j2 >/dev/null
ctest --test-dir target/ctest -j2 --output-on-failure
cmake -S . -B target/ctest-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRUTP_SANITIZE=ON >/dev/null
cmake --build target/ctest-asan -j2 >/dev/null
ctest --test-dir target/ctest-asan -j2 --output-on-failure
ctest --test-dir target/ctest -T memcheck -j2 --output-on-failure > target/ctest-memcheck.log 2>&1 || {
    tail -50 target/ctest-memcheck.log; exit 1; }
grep -E "tests passed|Memory checking results|Defects" target/ctest-memcheck.log || true
if grep -q "Defects:" target/ctest-memcheck.log; then
    echo "valgrind found defects (target/ctest-memcheck.log)"; exit 1
fi
unset CARGO_TARGET_DIR

step "managed C API under ThreadSanitizer (library and test instrumented)"
bash scripts/tsan-managed.sh

step "Miri (issue 8): the engine's and the C API layer's unit tests, two shards (nightly; skips marked cfg_attr(miri, ignore))"
bash scripts/miri.sh

step "runtime stream tests over loopback UDP under ThreadSanitizer (nightly, std instrumented)"
bash scripts/sanitize-rust.sh thread

step "Python package: pip install into a venv, pytest (callback API, ctypes layer, header sync)"
CARGO_TARGET_DIR="$PWD/target" bash scripts/test-python.sh

step "Python pytest suite against an AddressSanitizer libutp.so (gcc's libasan preloaded; a leak through libutp.so fails)"
bash scripts/sanitize-python.sh

step "udp-relay (the impairment relay): its choices and a loopback run"
cargo test --locked --release --bin udp-relay --test udp_relay

step "interop matrix (issue 7): libutp, libtorrent and Transmission, real peers from package registries; one table at the end (target/interop/table.txt)"
CARGO_TARGET_DIR="$PWD/target" bash scripts/interop.sh

step "fuzzing (issue 8): cargo-fuzz targets for 60 s each, from the committed corpora and regressions (nightly; installs cargo-fuzz)"
bash scripts/fuzz.sh 60 decode endpoint c_api extensions

step "C library: CMake build and install, find_package and pkg-config consumers"
CARGO_TARGET_DIR="$PWD/target" bash scripts/test-consumers.sh

step "engine benchmark (short run; the README records the 256 MiB figures)"
RUTP_BENCH_MIB="${RUTP_BENCH_MIB:-64}" cargo bench --locked --features sim --bench engine

step "instructions per MiB under callgrind (in-memory pair, ours): at most 10 % above benches/callgrind-ours.txt"
bash scripts/bench-callgrind.sh --guard
