"""The command line: arguments, formats, exit codes, config and ``python -m``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sqlops.audit import main

BAD = """\
from sqlalchemy.ext.asyncio import AsyncSession
async def drop(db: AsyncSession, user):
    db.delete(user)
"""
CLEAN = "x = 1\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make a project with one bad and one clean module, and cd into it."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "routes.py").write_text(BAD)
    (tmp_path / "app" / "models.py").write_text(CLEAN)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_text_output_and_exit_1(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("app/routes.py:3:5: SQA001 `db.delete()` is a coroutine")
    assert out[1] == "    fix: write `await db.delete(...)`"
    assert out[-1] == "Found 1 finding in 1 file (2 files checked)."


def test_clean_exit_0(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app/models.py"]) == 0
    assert capsys.readouterr().out.strip() == "All clear: no findings (1 file checked)."


def test_exit_zero(project: Path) -> None:
    assert main(["app", "--exit-zero"]) == 0


def test_json_output(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app", "--format", "json"]) == 1
    (finding,) = json.loads(capsys.readouterr().out)
    assert finding == {
        "code": "SQA001",
        "message": finding["message"],
        "path": "app/routes.py",
        "line": 3,
        "column": 5,
        "fix": "write `await db.delete(...)`",
    }


def test_sarif_output(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app", "--format", "sarif"]) == 1
    log = json.loads(capsys.readouterr().out)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "sqlops-audit"
    assert [r["id"] for r in rules][:2] == ["SQA001", "SQA002"]
    assert all(r["shortDescription"]["text"] and r["fullDescription"]["text"] for r in rules)
    (result,) = run["results"]
    assert result["ruleId"] == "SQA001"
    assert rules[result["ruleIndex"]]["id"] == "SQA001"
    assert result["level"] == "warning"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "app/routes.py"
    assert location["region"] == {"startLine": 3, "startColumn": 5}


def test_select_and_ignore_options(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app", "--select", "SQA002,SQA003"]) == 0
    assert main(["app", "--ignore", "SQA001"]) == 0
    assert main(["app", "--select", "SQA001", "--ignore", "SQA002"]) == 1


def test_list_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-rules"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) >= 13
    assert out[0].startswith("SQA001  unawaited-session-coroutine")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.py"], "no such file or directory"),
        (["app", "--select", "SQA999"], "unknown rule code 'SQA999'"),
        ([], "give at least one PATH"),
        (["app", "--format", "xml"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--list-rules" in capsys.readouterr().out


def test_syntax_error_is_reported_and_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "app" / "broken.py").write_text("def broken(:\n")
    assert main(["app", "--exit-zero"]) == 2
    captured = capsys.readouterr()
    assert "app/broken.py:1:" in captured.err
    assert "syntax error" in captured.err
    assert "SQA001" in captured.out  # the other files are still checked


def test_config_is_applied(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pyproject.toml").write_text("[tool.sqlops.audit]\nignore = ['SQA001']\n")
    assert main(["app"]) == 0
    (project / "pyproject.toml").write_text("[tool.sqlops.audit]\nexclude = ['app/routes.py']\n")
    assert main(["app"]) == 0
    (project / "pyproject.toml").write_text("[tool.sqlops.audit]\nselect = ['SQA002']\n")
    assert main(["app"]) == 0
    assert main(["app", "--select", "SQA001"]) == 1  # the command line wins


def test_bad_config_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pyproject.toml").write_text("[tool.sqlops.audit]\nselect = ['NOPE']\n")
    assert main(["app"]) == 2
    assert "unknown rule code 'NOPE'" in capsys.readouterr().err


def test_python_dash_m(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sqlops.audit", "app", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)[0]["code"] == "SQA001"


def test_pre_commit_hook_is_declared() -> None:
    hooks = (Path(__file__).parents[2] / ".pre-commit-hooks.yaml").read_text()
    assert "id: sqlops-audit" in hooks
    assert "entry: python -m sqlops.audit" in hooks
    assert "language: python" in hooks
    assert "types: [python]" in hooks


def test_unparsable_file_is_named_and_never_all_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ok.py").write_text(CLEAN)
    (tmp_path / "template.py").write_text("{{ cookiecutter.name }} = 1\n")
    monkeypatch.chdir(tmp_path)
    assert main(["."]) == 2
    out = capsys.readouterr().out.splitlines()
    assert "All clear" not in "\n".join(out)
    assert out[-2] == "No findings in the 1 file checked."
    assert out[-1] == "NOT checked: 1 file that do not parse (see stderr): template.py."


def test_unparsable_file_is_not_counted_as_checked(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "app" / "broken.py").write_text("def broken(:\n")
    assert main(["app"]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == "Found 1 finding in 1 file (2 files checked)."
    assert out[-1].startswith("NOT checked: 1 file that do not parse")


def test_list_rules_into_a_closed_pipe_is_quiet() -> None:
    """``sqlops audit --list-rules | head`` ends without a BrokenPipeError traceback."""
    audit = f"{sys.executable} -m sqlops.audit --list-rules"
    head = subprocess.run(["sh", "-c", f"{audit} | head -1"], **_quiet())
    assert head.stdout.startswith("SQA001")
    assert "Traceback" not in head.stderr
    closed = subprocess.run(["sh", "-c", f"{audit} | true"], **_quiet())  # reader already gone
    assert "BrokenPipeError" not in closed.stderr
    assert closed.stderr == ""


def _quiet() -> dict[str, Any]:
    return {"capture_output": True, "text": True, "env": _env(), "check": False}


BLOCKER = """\
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("click", "rich", "sqlalchemy", "greenlet"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, _Blocked())
"""


def test_runs_without_third_party_packages(tmp_path: Path) -> None:
    """``python -m sqlops.audit`` needs no click, rich or SQLAlchemy (a bare install)."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    (tmp_path / "app.py").write_text(BAD)
    env = _env()
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{env['PYTHONPATH']}"
    done = subprocess.run(
        [sys.executable, "-m", "sqlops.audit", "app.py"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "SQA001" in done.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import click"], env=env, cwd=tmp_path, check=False
    )
    assert probe.returncode != 0  # the blocker really blocks


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env
