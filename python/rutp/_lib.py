"""Finding and loading rutp's ``libutp.so``.

Search order (the first library that loads *and* is rutp's wins):

1. ``RUTP_LIBRARY``: the path of the library file. When set, nothing else is tried.
2. A copy bundled in the package: ``rutp/lib/libutp.so``.
3. The cargo build directory of the rutp checkout this package sits in: the nearest parent
   directory holding a ``Cargo.toml`` whose package is named ``rutp``; in it
   ``$CARGO_TARGET_DIR/{release,debug}`` (relative paths taken from that checkout), then
   ``target/release`` and ``target/debug``.
4. The system's library path: ``ctypes.util.find_library("utp")``, ``libutp.so.0``,
   ``libutp.so``.

A library is rutp's when it exports ``utp_managed_create``; the reference libutp (which a
system may also install as ``libutp.so``) does not, and is skipped with a note.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import sys
from pathlib import Path
from typing import List, Optional, Tuple

__all__ = ["RutpLibraryNotFound", "load_library", "candidate_paths"]

#: File name of the shared library on this platform.
LIBRARY_FILE = {"darwin": "libutp.dylib", "win32": "utp.dll"}.get(sys.platform, "libutp.so")

#: A symbol only rutp's library exports (libutp has no managed mode).
RUTP_MARKER_SYMBOL = "utp_managed_create"

_PACKAGE_DIR = Path(__file__).resolve().parent
_CRATE_NAME = re.compile(r'^\s*name\s*=\s*"rutp"\s*$', re.MULTILINE)


class RutpLibraryNotFound(ImportError):
    """No loadable rutp ``libutp.so`` was found; ``tried`` lists each candidate and why it failed."""

    def __init__(self, tried: List[Tuple[str, str]]) -> None:
        self.tried = tried
        lines = [f"  {path}: {why}" for path, why in tried] or ["  (no candidates)"]
        super().__init__(
            "rutp's libutp shared library was not found. Build it with "
            "`cargo build --release --lib` in the rutp repository, or set RUTP_LIBRARY to the "
            "path of libutp.so. Tried:\n" + "\n".join(lines)
        )


def _find_checkout(start: Path) -> Optional[Path]:
    """The nearest directory at or above ``start`` whose ``Cargo.toml`` names the rutp crate."""
    for directory in (start, *start.parents):
        manifest = directory / "Cargo.toml"
        try:
            if manifest.is_file() and _CRATE_NAME.search(manifest.read_text(encoding="utf-8")):
                return directory
        except OSError:
            continue
    return None


def _checkout_paths(checkout: Path) -> List[Path]:
    target_dirs: List[Path] = []
    configured = os.environ.get("CARGO_TARGET_DIR")
    if configured:
        target_dirs.append(checkout / configured)  # an absolute value replaces checkout
    target_dirs.append(checkout / "target")
    return [d / profile / LIBRARY_FILE for d in target_dirs for profile in ("release", "debug")]


def candidate_paths() -> List[str]:
    """Every place searched after ``RUTP_LIBRARY``, in order (files may not exist)."""
    paths = [str(_PACKAGE_DIR / "lib" / LIBRARY_FILE)]
    checkout = _find_checkout(_PACKAGE_DIR)
    if checkout is not None:
        paths += [str(p) for p in _checkout_paths(checkout)]
    system = ctypes.util.find_library("utp")
    if system:
        paths.append(system)
    paths += ["libutp.so.0", "libutp.so"] if sys.platform.startswith("linux") else []
    return list(dict.fromkeys(paths))  # drop duplicates, keep order


def _try_load(path: str, tried: List[Tuple[str, str]]) -> Optional[ctypes.CDLL]:
    """Loads ``path`` if it exists (bare names go to the dynamic loader) and is rutp's."""
    is_bare_name = os.sep not in path
    if not is_bare_name and not os.path.exists(path):
        tried.append((path, "no such file"))
        return None
    try:
        lib = ctypes.CDLL(path, use_errno=True)
    except OSError as err:
        tried.append((path, f"cannot load: {err}"))
        return None
    if not hasattr(lib, RUTP_MARKER_SYMBOL):
        tried.append((path, f"not rutp's library (no {RUTP_MARKER_SYMBOL}; the reference libutp?)"))
        return None
    return lib


def load_library() -> Tuple[ctypes.CDLL, str]:
    """Loads rutp's library following the module's search order; returns it and its path.

    Raises :class:`RutpLibraryNotFound` naming every candidate tried.
    """
    tried: List[Tuple[str, str]] = []
    explicit = os.environ.get("RUTP_LIBRARY")
    candidates = [explicit] if explicit else candidate_paths()
    for path in candidates:
        lib = _try_load(path, tried)
        if lib is not None:
            return lib, path
    if explicit:
        tried[-1] = (explicit, tried[-1][1] + " (from RUTP_LIBRARY; nothing else was tried)")
    raise RutpLibraryNotFound(tried)
