"""docs/fastapi.md's complete app runs and prints what the page says it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "fastapi.md"


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_complete_app_prints_the_documented_output(tmp_path: Path):
    text = DOC.read_text()
    app, try_app = blocks(text, "python")[:2]
    expected = next(b for b in blocks(text, "") if b.startswith("201 "))
    (tmp_path / "app.py").write_text(app)
    (tmp_path / "try_app.py").write_text(try_app)
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'docs.db'}"}
    run = subprocess.run(
        [sys.executable, "try_app.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == expected
