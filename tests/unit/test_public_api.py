"""The flat public API: sorted, importable, documented."""

from __future__ import annotations

import inspect
from pathlib import Path

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

import sqlops
import sqlops.models
from sqlops.models import NAMING_CONVENTION, make_base

DOCS = Path(__file__).parents[2] / "docs"


def test_all_is_sorted_and_importable() -> None:
    assert sqlops.__all__ == sorted(sqlops.__all__)
    for name in sqlops.__all__:
        assert hasattr(sqlops, name), name
    assert sqlops.models.__all__ == sorted(sqlops.models.__all__)


def test_error_tree_matches_the_contract() -> None:
    assert issubclass(sqlops.NotFoundError, sqlops.SqlopsError)
    for cls in (sqlops.InvalidFilterError, sqlops.InvalidCursorError, sqlops.InvalidValueError):
        assert issubclass(cls, sqlops.SqlopsError) and issubclass(cls, ValueError)
    for cls in (
        sqlops.UniqueViolation,
        sqlops.ForeignKeyViolation,
        sqlops.NotNullViolation,
        sqlops.CheckViolation,
    ):
        assert issubclass(cls, sqlops.ConstraintViolation)
    for cls in (
        sqlops.TransactionConflictError,
        sqlops.DatabaseUnavailableError,
        sqlops.LazyLoadError,
        sqlops.MultipleFoundError,
    ):
        assert issubclass(cls, sqlops.SqlopsError)


def test_every_public_name_has_a_docstring() -> None:
    for name in sqlops.__all__:
        obj = getattr(sqlops, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name


def test_every_public_name_is_in_the_reference() -> None:
    reference = (DOCS / "reference.md").read_text()
    missing = [n for n in sqlops.__all__ if not n.startswith("_") and f"`{n}" not in reference]
    assert not missing, f"docs/reference.md does not mention {missing}"


def test_repository_methods_match_the_contract() -> None:
    expected = {
        "create", "create_many", "get", "get_one", "first", "one", "list", "count", "exists",
        "page", "cursor_page", "stream", "update", "update_where", "delete", "delete_where",
        "get_or_create", "upsert", "upsert_many", "increment", "soft_delete", "restore",
    }  # fmt: skip
    for name in expected:
        method = getattr(sqlops.Repository, name)
        if name == "stream":
            assert inspect.isasyncgenfunction(method)
        else:
            assert inspect.iscoroutinefunction(method), name


def test_make_base_gives_independent_registries() -> None:
    first, second = make_base(), make_base()
    assert first.metadata is not second.metadata
    assert first.metadata.naming_convention == NAMING_CONVENTION

    class Player(first):  # type: ignore[valid-type, misc]
        __tablename__ = "players"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(20), unique=True)

    class Player2(second):  # type: ignore[valid-type, misc]
        __tablename__ = "players"  # the same table name in another registry
        id: Mapped[int] = mapped_column(primary_key=True)

    assert "players" in first.metadata.tables and "players" in second.metadata.tables
    constraint = next(iter(first.metadata.tables["players"].constraints - {
        first.metadata.tables["players"].primary_key}))  # fmt: skip
    assert constraint.name == "uq_players_name"


def test_importing_sqlops_does_not_import_sqlalchemy() -> None:
    import subprocess
    import sys

    code = "import sys, sqlops, sqlops.audit; print('sqlalchemy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_public_classes_show_the_public_module() -> None:
    shown = {name: getattr(sqlops, name) for name in sqlops.__all__}
    for name, obj in shown.items():
        if inspect.isclass(obj) and (issubclass(obj, BaseException) or name == "Database"):
            assert obj.__module__ == "sqlops", name
            assert repr(obj) == f"<class 'sqlops.{name}'>"


def test_every_error_is_in_the_error_tree() -> None:
    from sqlops import _errors

    tree = _errors.__doc__ or ""
    for name in sqlops.__all__:
        obj = getattr(sqlops, name)
        if inspect.isclass(obj) and issubclass(obj, sqlops.SqlopsError) and name != "SqlopsError":
            assert name in tree or name in ("PoolTimeoutError", "NPlusOneError"), name
