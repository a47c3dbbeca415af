"""`sqlops migrate` end to end: init, autogenerate, upgrade, check, change a model, check fails."""

from __future__ import annotations

from click.testing import CliRunner, Result

from sqlops.cli import main

from .conftest import Project


def sqlops(*args: str) -> Result:
    return CliRunner().invoke(main, ["migrate", *args])


def test_migrate_end_to_end(project: Project) -> None:
    result = sqlops("init")
    assert result.exit_code == 0, result.output
    assert (project.root / "migrations" / "env.py").is_file()

    result = sqlops("revision", "-m", "create teams and players", "--autogenerate")
    assert result.exit_code == 0, result.output
    [script] = (project.root / "migrations" / "versions").glob("*.py")
    text = script.read_text()
    assert "op.create_table('teams'" in text
    assert "import sqlops.models" in text  # UTCDateTime is importable from the revision

    result = sqlops("upgrade")
    assert result.exit_code == 0, result.output
    assert "upgraded 1 revision(s) to head" in result.output

    result = sqlops("current")
    assert result.exit_code == 0, result.output
    assert "(head) create teams and players" in result.output

    result = sqlops("check")
    assert (result.exit_code, result.output.strip()) == (0, "models and database agree")

    project.append_models(
        """
        class Match(IntPK, Base):
            __tablename__ = "matches"
            title: Mapped[str] = mapped_column(String(80))
        """
    )
    project.write_models(
        project.models.read_text().replace(
            "email: Mapped[str] = mapped_column(String(255), unique=True)",
            "email: Mapped[str] = mapped_column(String(255), unique=True)\n"
            "    rating: Mapped[int | None]",
        )
    )
    result = sqlops("check")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "models and database differ (2): add table matches; add column players.rating"
    )

    assert sqlops("revision", "-m", "matches and ratings", "--autogenerate").exit_code == 0
    result = sqlops("upgrade")
    assert "upgraded 1 revision(s) to head" in result.output, result.output
    assert sqlops("check").exit_code == 0

    result = sqlops("downgrade", "-1")
    assert result.exit_code == 0, result.output
    assert "downgraded 1 revision(s)" in result.output
    assert "(head)" not in sqlops("current").output

    result = sqlops("downgrade", "base")
    assert result.exit_code == 0, result.output
    assert "no revision applied yet" in sqlops("current").output


def test_upgrade_when_at_head_says_so(project: Project) -> None:
    assert sqlops("init").exit_code == 0
    assert sqlops("revision", "-m", "initial", "--autogenerate").exit_code == 0
    assert sqlops("upgrade").exit_code == 0
    result = sqlops("upgrade")
    assert result.exit_code == 0
    assert "nothing to upgrade" in result.output


def test_check_on_a_database_behind_head_fails(project: Project) -> None:
    assert sqlops("init").exit_code == 0
    assert sqlops("revision", "-m", "initial", "--autogenerate").exit_code == 0
    result = sqlops("check")
    assert result.exit_code == 1
    assert "not up to date" in result.output
    assert "sqlops migrate upgrade" in result.output
