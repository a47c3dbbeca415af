"""docs/guards.md's example runs and prints what the page says it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "guards.md"


def blocks(language: str) -> list[str]:
    """The fenced code blocks of the page tagged ``language`` ("" for untagged ones)."""
    found: list[str] = []
    current: list[str] | None = None
    tag = ""
    for line in DOC.read_text().splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, tag = [], line[3:].strip()
            else:
                if tag == language:
                    found.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return found


def without_task_numbers(text: str) -> str:
    return re.sub(r"Task-\d+", "Task-N", text)


def test_the_example_prints_the_documented_output(tmp_path: Path) -> None:
    (example,) = blocks("python")
    expected = next(block for block in blocks("") if block.startswith("NPlusOneError"))
    (tmp_path / "guards_example.py").write_text(example)
    run = subprocess.run(
        [sys.executable, "guards_example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert without_task_numbers(run.stdout) == without_task_numbers(expected)
