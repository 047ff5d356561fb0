# Sourced by scripts that run Python against the library just built (test-python.sh and the
# interop scripts). Defines:
#   apt_install PKG...     install Debian packages (root only; otherwise a clear error)
#   rutp_library           build libutp.so (release) and set $library to its absolute path
#   rutp_venv DIR [PIP...] make the venv DIR if missing (Debian's python3 is externally managed,
#                          PEP 668), install our package (not editable: the installed copy is
#                          what users get) and the given pip requirements into it; sets $python
# The sourcing script sets `tag` first (used in messages) and runs from the checkout's root.

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "$tag: missing $*; install it (apt-get install $*)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

rutp_library() {
    local target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
    case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
    cargo build --locked --release --lib --quiet
    library="$target_dir/release/libutp.so"
    test -f "$library"
}

rutp_venv() {
    local venv=$1
    shift
    command -v python3 >/dev/null || apt_install python3
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    if [ ! -x "$venv/bin/python" ]; then
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
    python="$venv/bin/python"
    "$python" -m pip install --quiet --force-reinstall --no-deps ./python
    if [ $# -gt 0 ]; then
        "$python" -m pip install --quiet "$@"
    fi
}
