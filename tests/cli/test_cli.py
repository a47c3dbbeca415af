"""The `sqlops` command line: help, one-line errors, and the audit/bench pass-through."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sqlops import _cli_app as cli

from .conftest import run

BUGGY = "async def drop(session: AsyncSession, user):\n    session.delete(user)\n"
CLEAN = "async def drop(session: AsyncSession, user):\n    await session.delete(user)\n"


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("demo", "doctor", "migrate", "audit", "bench"):
        assert f"  {command} " in result.stdout
    migrate = run("migrate", "--help").stdout
    for command in ("init", "revision", "upgrade", "downgrade", "current", "check"):
        assert f"  {command} " in migrate


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert "sqlops, version 0.1.0" in result.stdout


def test_a_sqlops_error_is_one_line_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    result = run("migrate", "current")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no migrations in {tmp_path.resolve() / 'migrations'}; "
        "run `sqlops migrate init` first\n"
    )


def test_an_unexpected_error_names_its_type_and_debug_shows_the_traceback(
    app_module: Callable[[str], str],
) -> None:
    name = app_module("raise RuntimeError('boom at import')\n")
    result = run("doctor", "--object", f"{name}:db")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: RuntimeError: boom at import (run `sqlops --debug ...` for the traceback)\n"
    )
    result = run("--debug", "doctor", "--object", f"{name}:db")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1] == "error: RuntimeError: boom at import"


def test_usage_errors_exit_2() -> None:
    assert run("migrate", "revision").exit_code == 2  # -m is required
    assert run("no-such-command").exit_code == 2


@pytest.mark.parametrize(("source", "code"), [(CLEAN, 0), (BUGGY, 1)])
def test_audit_passes_arguments_through_and_exits_with_its_code(
    tmp_path: Path, source: str, code: int
) -> None:
    path = tmp_path / "app.py"
    path.write_text(source)
    result = run("audit", "--format", "json", str(path))
    assert result.exit_code == code, result.output
    assert ("SQA001" in result.stdout) is bool(code)


def test_audit_usage_errors_and_help_are_audits_own() -> None:
    assert run("audit", "--no-such-flag").exit_code == 2
    result = run("audit", "--help")
    assert result.exit_code == 0
    assert "usage: sqlops audit" in result.stdout


def test_bench_passes_arguments_through(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def harness(argv: list[str], prog: str) -> int:
        seen.append([prog, *argv])
        return 3

    monkeypatch.setattr(cli, "_bench_main", lambda: harness)
    result = run("bench", "--quick", "--backend", "sqlite")
    assert (result.exit_code, seen) == (3, [["sqlops bench", "--quick", "--backend", "sqlite"]])


def test_bench_outside_a_checkout_says_where_to_run_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_bench_main", lambda: None)
    result = run("bench")
    assert result.exit_code == 1
    assert "from a checkout of the sqlops repository" in result.stderr


def test_bench_is_found_in_this_checkout_and_not_in_another_project(tmp_path: Path) -> None:
    root = Path(cli.__file__).resolve().parents[2]
    if not (root / "benchmarks" / "cli.py").is_file():
        pytest.skip("not running from a source checkout with benchmarks/")
    assert cli._is_sqlops_checkout(root)
    harness = cli._bench_main()
    assert harness is not None and harness.__module__ == "benchmarks.cli"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    assert not cli._is_sqlops_checkout(tmp_path)


def test_bench_help_names_sqlops_bench() -> None:
    if cli._bench_main() is None:
        pytest.skip("not running from a source checkout with benchmarks/")
    result = run("bench", "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("usage: sqlops bench ")


def test_the_entry_point_runs_the_audit_without_click(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlops import cli as entry

    for name in ("click", "rich", "sqlops._cli_app"):
        monkeypatch.setitem(sys.modules, name, None)  # import of them fails: a bare install
    (tmp_path / "bad.py").write_text(BUGGY)
    assert entry.run(["audit", str(tmp_path)]) == 1
    assert "SQA001" in capsys.readouterr().out
    assert entry.run(["--debug", "audit", "--list-rules"]) == 0


@pytest.mark.parametrize("args", [[], ["--help"], ["demo"], ["doctor", "x"], ["migrate", "init"]])
def test_without_the_cli_extra_other_commands_name_it_in_one_line(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlops import cli as entry

    monkeypatch.delitem(sys.modules, "sqlops._cli_app", raising=False)
    monkeypatch.setitem(sys.modules, "click", None)
    assert entry.run(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "needs the CLI extra: pip install 'sqlops[cli]'" in err


def test_the_entry_point_drives_the_click_app_with_its_exit_status() -> None:
    from sqlops import cli as entry

    assert entry.run(["--version"]) == 0
    assert entry.run(["no-such-command"]) == 2
    with pytest.raises(SystemExit) as stop:
        entry.main(["--version"])
    assert stop.value.code == 0


def test_migrate_init_shows_the_pyproject_section_literally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    result = run("migrate", "init")
    assert result.exit_code == 0, result.output
    assert "  [tool.sqlops]\n" in result.stdout


def test_migrate_current_does_not_create_the_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert run("migrate", "init").exit_code == 0
    result = run("migrate", "current")
    assert result.exit_code == 0, result.output
    assert "no revision applied yet" in result.stdout
    assert not (tmp_path / "sqlops.db").exists()
