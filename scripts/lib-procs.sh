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
