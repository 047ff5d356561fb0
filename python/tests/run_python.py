"""Runs a Python snippet in a fresh interpreter (with faulthandler) so a crash fails one test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Optional

TESTS_DIR = Path(__file__).resolve().parent


def run_python(
    code: str, env: Optional[Dict[str, str]] = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Runs ``code``; ``env``'s PYTHONPATH, then the tests and this ``sys.path`` are importable."""
    full_env = dict(os.environ if env is None else env)
    first = [full_env["PYTHONPATH"]] if env is not None and "PYTHONPATH" in env else []
    full_env["PYTHONPATH"] = os.pathsep.join([*first, str(TESTS_DIR), *filter(None, sys.path)])
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)],
        env=full_env, capture_output=True, text=True, timeout=timeout,
    )
