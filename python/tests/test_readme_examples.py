"""The README's Python "Quick start" and "asyncio" examples run as written and print what their
comments say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from streamkit import env_with_library

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def example(heading: str) -> str:
    """The first ```python block after ``### <heading>`` in the README."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n### {heading}\n")
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block, f"no python block under {heading}"
    return block.group(1)


@pytest.mark.parametrize(
    "heading, printed",
    [
        ("Quick start", "b'hello over uTP'\nb'bye' b'' 3\n"),
        ("asyncio", "b'ping'\n"),
    ],
)
def test_readme_example_runs_as_written(heading: str, printed: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", example(heading)],
        env=env_with_library(), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == printed
