# Sourced by the interop scripts: `say`/`die` prefixed with "$tag: ", and background processes
# (pids appended to `pids`) that are always killed and reaped when the script exits.
# The sourcing script sets `tag` first.

say() { printf '%s: %s\n' "$tag" "$*" >&2; }
die() { say "error: $*"; exit 1; }

pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# until_size FILE BYTES PID: polls every 10 ms until FILE holds BYTES, then prints the time
# (`date +%s.%N`), or until PID has exited, then prints nothing.
until_size() {
    local file=$1 bytes=$2 pid=$3
    while :; do
        if [[ $(stat -c %s "$file") -ge $bytes ]]; then
            date +%s.%N
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.01
    done
}
