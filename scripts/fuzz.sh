#!/usr/bin/env bash
# Runs the cargo-fuzz targets (fuzz/, a workspace of its own) for a time budget each, starting
# from the committed seed corpora (fuzz/corpus/<target>, written by `cargo run --example
# fuzz_seeds`) and the inputs that once failed (fuzz/regressions/<target>). New inputs the
# fuzzer finds go to target/fuzz-corpus/<target>, never into the committed corpus; a crash
# leaves its input in fuzz/artifacts/<target>/ and fails the run.
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default 60 s, every target)
#
# Needs the nightly toolchain (libFuzzer's instrumentation and AddressSanitizer) and installs
# cargo-fuzz from crates.io when it is missing. The longer documented run is
# `scripts/fuzz.sh 3600`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(decode endpoint c_api extensions)
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: '$seconds' is not a number of seconds" >&2; exit 2; }

readonly CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io" >&2
    cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
rustup toolchain list | grep -q '^nightly' || {
    echo "fuzz.sh: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
}
for t in "${targets[@]}"; do
    [[ -d fuzz/corpus/$t ]] || cargo run --quiet --example fuzz_seeds
done

for t in "${targets[@]}"; do
    work=$root/target/fuzz-corpus/$t
    mkdir -p "$work"
    echo "fuzz.sh: $t for $seconds s (seeds: $(ls fuzz/corpus/"$t" | wc -l) in fuzz/corpus/$t)" >&2
    # The committed seeds and regression inputs (fuzz/regressions/<target>: inputs that once
    # failed, run first like every corpus file) are read; only the scratch corpus is written.
    regressions=()
    [[ -d fuzz/regressions/$t ]] && regressions=("fuzz/regressions/$t")
    cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$work" "fuzz/corpus/$t" "${regressions[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
        2>"$root/target/fuzz-$t.log" || {
        tail -40 "$root/target/fuzz-$t.log" >&2
        echo "fuzz.sh: $t FAILED (input in fuzz/artifacts/$t/, log target/fuzz-$t.log)" >&2
        exit 1
    }
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs' \
        "$root/target/fuzz-$t.log" | sed "s/^/fuzz.sh: $t: /" >&2 || true
done
echo "fuzz.sh: every target ran clean" >&2
