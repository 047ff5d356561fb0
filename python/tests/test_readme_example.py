"""The README's callback-API example runs as written and moves its message."""

from __future__ import annotations

import re
from pathlib import Path

from run_python import run_python


def _readme_example() -> str:
    for directory in Path(__file__).resolve().parents:
        readme = directory / "README.md"
        if readme.is_file() and "### Low-level and callback API" in readme.read_text(encoding="utf-8"):
            section = readme.read_text(encoding="utf-8").split("### Low-level and callback API", 1)[1]
            match = re.search(r"```python\n(.*?)```", section, re.S)
            assert match, "no python block in the README section"
            return match.group(1)
    raise FileNotFoundError("README.md with the Python section not found above the tests")


def test_readme_callback_example_runs() -> None:
    result = run_python(_readme_example())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("accepted from ('127.0.0.1', ")
    assert lines[1] == "received b'hello'"
