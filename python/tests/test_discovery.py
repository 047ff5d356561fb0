"""Library discovery: RUTP_LIBRARY, the bundled copy, the checkout's cargo build, a clear error."""

from __future__ import annotations

import ctypes.util
import os
import shutil
from pathlib import Path
from typing import Dict

import pytest

import rutp
from rutp import _ffi
from run_python import run_python

PACKAGE_DIR = Path(rutp.__file__).resolve().parent
PRINT_PATH = "import rutp._ffi as f; print(f.library_path)"


def _env(**changes: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RUTP_LIBRARY", "CARGO_TARGET_DIR")}
    env.update(changes)
    return env


def test_the_loaded_library_is_rutps() -> None:
    assert hasattr(_ffi.lib, "utp_managed_create")
    assert Path(_ffi.library_path).is_file()


def test_a_missing_rutp_library_path_is_named_in_the_error(tmp_path) -> None:
    missing = tmp_path / "nowhere" / "libutp.so"
    result = run_python("import rutp", env=_env(RUTP_LIBRARY=str(missing)))
    assert result.returncode != 0
    assert "RutpLibraryNotFound" in result.stderr
    assert f"{missing}: no such file" in result.stderr


def test_a_library_that_is_not_rutps_is_refused() -> None:
    libc = ctypes.util.find_library("c")
    assert libc, "the C library is always there"
    result = run_python("import rutp", env=_env(RUTP_LIBRARY=libc))
    assert result.returncode != 0
    assert "not rutp's library (no utp_managed_create" in result.stderr


def test_the_error_is_an_import_error() -> None:
    result = run_python(
        "try:\n"
        "    import rutp\n"
        "except ImportError as err:\n"
        "    print(type(err).__name__, len(err.tried))\n",
        env=_env(RUTP_LIBRARY="/nonexistent/libutp.so"),
    )
    assert result.stdout.strip() == "RutpLibraryNotFound 1"


def test_a_copy_bundled_in_the_package_is_found(tmp_path) -> None:
    package = tmp_path / "site" / "rutp"
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__", "lib"))
    (package / "lib").mkdir()
    shutil.copy(_ffi.library_path, package / "lib" / "libutp.so")
    env = _env()
    result = run_python(PRINT_PATH, env=env | {"PYTHONPATH": str(tmp_path / "site")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(package / "lib" / "libutp.so")


def test_the_cargo_build_of_the_checkout_is_found(tmp_path) -> None:
    built = Path(_ffi.library_path).resolve()
    if built.parent.name not in ("release", "debug"):
        pytest.skip(f"{built} is not in a cargo target directory")
    # A fake checkout: Cargo.toml of the rutp crate, the package, and a target dir beside it.
    checkout = tmp_path / "checkout"
    (checkout / "python").mkdir(parents=True)
    (checkout / "Cargo.toml").write_text('[package]\nname = "rutp"\n')
    shutil.copytree(PACKAGE_DIR, checkout / "python" / "rutp",
                    ignore=shutil.ignore_patterns("__pycache__", "lib"))
    target = checkout / "target" / "debug"
    target.mkdir(parents=True)
    shutil.copy(built, target / "libutp.so")
    result = run_python(PRINT_PATH, env=_env() | {"PYTHONPATH": str(checkout / "python")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(target / "libutp.so")
    # CARGO_TARGET_DIR comes before target/.
    result = run_python(PRINT_PATH, env=_env(CARGO_TARGET_DIR=str(built.parent.parent))
                        | {"PYTHONPATH": str(checkout / "python")})
    assert result.stdout.strip() == str(built.parent / "libutp.so")


def test_nothing_found_lists_every_candidate(tmp_path) -> None:
    package = tmp_path / "alone" / "rutp"
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__", "lib"))
    result = run_python("import rutp", env=_env() | {"PYTHONPATH": str(tmp_path / "alone"),
                                                     "LD_LIBRARY_PATH": str(tmp_path)})
    if result.returncode == 0:
        pytest.skip("a rutp libutp.so is installed system-wide")
    assert f"{package / 'lib' / 'libutp.so'}: no such file" in result.stderr
    assert "libutp.so.0:" in result.stderr
