#!/usr/bin/env bash
# The Python package (python/): builds libutp.so, installs the package with pytest into a venv
# (target/python-venv: Debian's python3 is externally managed, PEP 668), checks that it imports,
# and runs its pytest suite against the library just built. Runs from a clean checkout; as root
# on Debian it installs python3-venv and gcc when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
venv="$PWD/target/python-venv"

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "test-python.sh: missing $*; install it (apt-get install $*)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v python3 >/dev/null || apt_install python3
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
command -v cc >/dev/null || command -v gcc >/dev/null || apt_install gcc  # the layout test

cargo build --locked --release --lib --quiet
library="$target_dir/release/libutp.so"
test -f "$library"

if [ ! -x "$venv/bin/python" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
fi
# Not editable: the installed copy is what users get (the tests import rutp from the venv).
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps ./python
"$venv/bin/python" -m pip install --quiet pytest

export RUTP_LIBRARY="$library"
(cd /tmp && "$venv/bin/python" -c "import rutp; print('rutp', rutp.__version__, 'from', rutp.__file__, 'loads', rutp._ffi.library_path)")
"$venv/bin/python" -m pytest python/tests -q -p no:cacheprovider
