"""docs/testing.md's examples run, as the user project they describe."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DOC = Path(__file__).parents[2] / "docs" / "testing.md"
SAMPLE = Path(__file__).parent / "sample"


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


def test_the_examples_pass_with_the_documented_settings(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SQLOPS_TEST_URL", raising=False)
    python = blocks("python")
    files = {block.splitlines()[0][2:]: block for block in python if block.startswith("# ")}
    assert set(files) == {"conftest.py", "test_authors.py"}
    fixtures = [block for block in python if block.startswith("@pytest.fixture")]
    assert len(fixtures) == 2  # sqlops_database_options and anyio_backend
    (outside,) = [block for block in python if "rolled_back(db)" in block]

    (pytester.path / "myapp").mkdir()
    (pytester.path / "myapp" / "__init__.py").write_text("")
    shutil.copyfile(SAMPLE / "sample_models.py", pytester.path / "myapp" / "models.py")
    (pytester.path / "conftest.py").write_text("\n\n".join([files["conftest.py"], *fixtures]))
    (pytester.path / "test_authors.py").write_text(files["test_authors.py"])
    (pytester.path / "test_outside.py").write_text(
        "import sqlops\nfrom myapp.models import Author\n\n\n"
        "async def test_outside_pytest(sqlops_db):\n    db = sqlops_db\n"
        + textwrap.indent(outside, "    ")
    )
    (ini,) = blocks("ini")
    (pytester.path / "pytest.ini").write_text(ini + "filterwarnings = error\n")

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
