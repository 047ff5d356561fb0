#!/usr/bin/env bash
# The Python package (python/): builds libutp.so, installs the package with pytest into a venv
# (target/python-venv: Debian's python3 is externally managed, PEP 668), checks that it imports,
# and runs its pytest suite against the library just built. Runs from a clean checkout; as root
# on Debian it installs python3-venv and gcc when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=test-python.sh
# shellcheck source=scripts/lib-venv.sh
source scripts/lib-venv.sh

command -v cc >/dev/null || command -v gcc >/dev/null || apt_install gcc  # the layout test
rutp_library
rutp_venv "$PWD/target/python-venv" pytest

export RUTP_LIBRARY="$library"
(cd /tmp && "$python" -c "import rutp; print('rutp', rutp.__version__, 'from', rutp.__file__, 'loads', rutp._ffi.library_path)")
"$python" -m pytest python/tests -q -p no:cacheprovider
