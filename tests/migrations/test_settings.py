"""[tool.sqlops] settings, the diff summaries, and the errors for bad configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from sqlops import SqlopsError, migrations
from sqlops.migrations import MigrationError, _settings, load_settings
from sqlops.migrations._diffs import describe_diffs
from sqlops.migrations._settings import import_metadata


def write(root: Path, body: str) -> Path:
    path = root / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n' + body)
    return path


def test_settings_are_read_from_the_nearest_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, '[tool.sqlops]\nmetadata = "app.models:Base.metadata"\nmigrations = "db/m"\n')
    (tmp_path / "src" / "deep").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "src" / "deep")
    settings = load_settings()
    assert settings.root == tmp_path.resolve()
    assert settings.directory == tmp_path.resolve() / "db" / "m"
    assert settings.metadata == "app.models:Base.metadata"


def test_a_migrations_directory_is_accepted_as_config(tmp_path: Path) -> None:
    write(tmp_path, '[tool.sqlops]\nmetadata = "app.models:Base.metadata"\n')
    (tmp_path / "db" / "schema").mkdir(parents=True)
    (tmp_path / "db" / "schema" / "env.py").write_text("")
    settings = load_settings(tmp_path / "db" / "schema")
    assert settings.directory == (tmp_path / "db" / "schema").resolve()
    assert (settings.root, settings.metadata) == (tmp_path.resolve(), "app.models:Base.metadata")


def test_url_setting_names_an_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(write(tmp_path, '[tool.sqlops]\nurl = "APP_DB"\n'))
    monkeypatch.setenv("APP_DB", "postgresql://app@db/app")
    assert settings.database_url().drivername == "postgresql+asyncpg"
    monkeypatch.delenv("APP_DB")
    with pytest.raises(MigrationError, match="environment variable APP_DB is not set"):
        settings.database_url()


def test_url_setting_may_be_a_literal_url_and_override_wins(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[tool.sqlops]\nurl = "mysql://root@db/app"\n'))
    assert settings.database_url().drivername == "mysql+asyncmy"
    assert settings.database_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"


def test_no_url_setting_means_the_database_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(write(tmp_path, ""))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert settings.database_url().render_as_string() == "sqlite+aiosqlite:///./sqlops.db"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/d")
    assert settings.database_url().database == "d"


def test_a_sync_driver_url_is_refused_with_the_async_one(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[tool.sqlops]\nurl = "postgresql+psycopg2://h/d"\n'))
    with pytest.raises(SqlopsError, match=r"use postgresql\+asyncpg"):
        settings.database_url()


def test_without_pyproject_the_defaults_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # No pyproject.toml here, and none above either, whatever the machine has in /tmp.
    monkeypatch.setattr(_settings, "find_pyproject", lambda start: None)
    settings = load_settings()
    assert (settings.root, settings.directory) == (tmp_path, tmp_path / "migrations")
    assert settings.metadata is None and settings.url_setting is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[tool]\nsqlops = 3\n", "must be a table"),
        ("[tool.sqlops]\nurl = 5\n", "url must be a string"),
        ("[tool.sqlops\n", "cannot read"),
    ],
)
def test_bad_settings_are_typed_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(MigrationError, match=message):
        load_settings(write(tmp_path, body))


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="no such file"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sqlops.models", "must look like"),
        ("no_such_module_xyz:Base.metadata", "cannot import no_such_module_xyz"),
        ("sqlops.models:Nope.metadata", "'Nope' not found"),
        ("sqlops.models:Base", r"is a DeclarativeAttributeIntercept, not a MetaData.*\.metadata"),
    ],
)
def test_bad_metadata_spec_is_a_typed_error(spec: str, message: str) -> None:
    with pytest.raises(MigrationError, match=message):
        import_metadata(spec)


def test_commands_before_init_say_to_run_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "")
    with pytest.raises(MigrationError, match="run `sqlops migrate init` first"):
        migrations.upgrade()


def test_init_refuses_a_directory_that_is_not_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "")
    created = migrations.init()
    assert sorted(p.name for p in created.iterdir()) == ["env.py", "script.py.mako", "versions"]
    with pytest.raises(MigrationError, match="already exists and is not empty"):
        migrations.init()


def test_autogenerate_without_metadata_says_where_to_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "")
    migrations.init()
    with pytest.raises(MigrationError, match=r"metadata = 'pkg.module:Base.metadata'"):
        migrations.revision("x", autogenerate=True)
    with pytest.raises(MigrationError, match=r"check needs your models"):
        migrations.check()


def test_an_alembic_ini_gets_the_url_with_percent_signs_escaped(tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = migrations\npath_separator = os\n")
    config = migrations.alembic_config(ini, url="postgresql://u:p%40ss@h/d")
    assert config.get_main_option("sqlalchemy.url") == "postgresql://u:p%40ss@h/d"


def test_diffs_are_described_one_line_each() -> None:
    metadata = MetaData()
    table = Table("users", metadata, Column("id", Integer, primary_key=True))
    column = Column("age", Integer)
    diffs = [
        ("add_table", table),
        ("remove_column", None, "users", column),
        [("modify_type", None, "users", "name", {}, String(20), String(40))],
        [("modify_nullable", None, "users", "name", {}, True, False)],
    ]
    assert describe_diffs(diffs) == [
        "add table users",
        "drop column users.age",
        "change type of users.name: VARCHAR(20) -> VARCHAR(40)",
        "change nullability of users.name: NULL -> NOT NULL",
    ]
