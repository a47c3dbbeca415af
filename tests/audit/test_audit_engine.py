"""The public API: check_source, check_paths, rule selection and ignore comments."""

from __future__ import annotations

from pathlib import Path

import pytest

import sqlops.audit
from sqlops.audit import RULES, Finding, check_paths, check_source

BAD = """\
from sqlalchemy.ext.asyncio import AsyncSession
async def drop(db: AsyncSession, user):
    db.delete(user)
    await db.add(user)
"""


def codes(findings: list[Finding]) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in findings]


def test_public_names_are_sorted_and_exported() -> None:
    assert sqlops.audit.__all__ == sorted(sqlops.audit.__all__)
    assert set(sqlops.audit.__all__) == {"RULES", "Finding", "check_paths", "check_source", "main"}


def test_rules_are_numbered_in_order_with_unique_names() -> None:
    assert [r.code for r in RULES] == [f"SQA{n:03d}" for n in range(1, len(RULES) + 1)]
    assert len(RULES) >= 13
    assert len({r.name for r in RULES}) == len(RULES)
    assert all(r.summary and r.fix and r.description for r in RULES)


def test_finding_is_frozen() -> None:
    (finding, _) = check_source(BAD)
    with pytest.raises(AttributeError):
        finding.line = 2  # type: ignore[misc]


def test_findings_are_sorted_by_position() -> None:
    assert codes(check_source(BAD)) == [("SQA001", 3), ("SQA002", 4)]


def test_select_and_ignore_by_code_and_prefix() -> None:
    assert codes(check_source(BAD, select=["SQA002"])) == [("SQA002", 4)]
    assert codes(check_source(BAD, ignore=["sqa001"])) == [("SQA002", 4)]
    assert codes(check_source(BAD, select=["SQA00"], ignore=["SQA002"])) == [("SQA001", 3)]
    assert codes(check_source(BAD, select=["ALL"])) == [("SQA001", 3), ("SQA002", 4)]


def test_unknown_code_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown rule code 'SQA999'"):
        check_source(BAD, select=["SQA999"])
    with pytest.raises(ValueError, match="unknown rule code"):
        check_source(BAD, ignore=["E501"])


def test_syntax_error_raises() -> None:
    with pytest.raises(SyntaxError):
        check_source("def broken(:\n")


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("# sqlops: ignore[SQA001]", [("SQA002", 4)]),
        ("# sqlops: ignore[SQA002, SQA001]", [("SQA002", 4)]),
        ("# sqlops: ignore", [("SQA002", 4)]),
        ("#sqlops:ignore[sqa001]", [("SQA002", 4)]),
        ("# sqlops: ignore[SQA002]", [("SQA001", 3), ("SQA002", 4)]),
        ("# noqa", [("SQA001", 3), ("SQA002", 4)]),
    ],
)
def test_ignore_comments_silence_one_line(comment: str, expected: list[tuple[str, int]]) -> None:
    source = BAD.replace("db.delete(user)", f"db.delete(user)  {comment}")
    assert codes(check_source(source)) == expected


def test_ignore_text_inside_a_string_is_not_a_comment() -> None:
    source = BAD.replace("db.delete(user)", 'db.delete(user, "# sqlops: ignore")')
    assert codes(check_source(source)) == [("SQA001", 3), ("SQA002", 4)]


def test_check_paths_walks_directories_and_skips_vendored(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "routes.py").write_text(BAD)
    (tmp_path / "app" / "notes.txt").write_text(BAD)
    for skipped in (".venv", "venv", ".git", "node_modules", "__pycache__", "build", "dist"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "x.py").write_text(BAD)
    (tmp_path / "lib" / "site-packages").mkdir(parents=True)
    (tmp_path / "lib" / "site-packages" / "x.py").write_text(BAD)
    found = check_paths([tmp_path])
    assert {Path(f.path).relative_to(tmp_path).as_posix() for f in found} == {"app/routes.py"}


def test_check_paths_takes_files_and_excludes(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(BAD)
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "b.py").write_text(BAD)
    assert len(check_paths([tmp_path / "a.py"])) == 2
    found = check_paths([tmp_path], exclude=["migrations"])
    assert {Path(f.path).name for f in found} == {"a.py"}


def test_check_paths_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check_paths([tmp_path / "missing.py"])
    (tmp_path / "broken.py").write_text("def broken(:\n")
    with pytest.raises(SyntaxError):
        check_paths([tmp_path])


def test_non_utf8_file_is_a_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "latin.py").write_bytes(b"x = '\xe9'\n")
    with pytest.raises(SyntaxError, match="not UTF-8"):
        check_paths([tmp_path])


NEWER_SYNTAX = """\
from sqlalchemy.ext.asyncio import AsyncSession
type Rows = list[int]
type Pair[T] = tuple[T, T]
class Repository[M: object](Base):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
    async def drop(self, obj: M) -> None:
        try:
            self.session.delete(obj)
        except ValueError, TypeError:
            pass
def first[T](items: list[T]) -> T:
    return items[0]
"""


def test_newer_syntax_is_still_checked() -> None:
    """3.12 ``type``/generics and 3.14 ``except A, B:`` are read on any supported Python."""
    found = check_source(NEWER_SYNTAX, "app/repo.py")
    assert [(f.code, f.line, f.column) for f in found] == [("SQA001", 9, 13)]


def test_newer_syntax_in_a_tree(tmp_path: Path) -> None:
    (tmp_path / "repo.py").write_text(NEWER_SYNTAX)
    assert [f.line for f in check_paths([tmp_path])] == [9]


def test_a_rewrite_never_hides_a_real_syntax_error() -> None:
    with pytest.raises(SyntaxError):
        check_source("type X = \ndef broken(:\n")


def test_files_outlined_for_memory_still_share_their_facts(tmp_path: Path) -> None:
    """A file naming no SQLAlchemy type is outlined, not kept: its bases still count."""
    (tmp_path / "base.py").write_text(
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "class BaseRepo:\n"
        "    def __init__(self, session: AsyncSession) -> None:\n"
        "        self.session = session\n"
    )
    (tmp_path / "users.py").write_text(
        "from base import BaseRepo\n"
        "class UserRepo(BaseRepo):\n"
        "    async def drop(self, user):\n"
        "        self.session.delete(user)\n"
    )
    found = check_paths([tmp_path])
    assert [(Path(f.path).name, f.line, f.code) for f in found] == [("users.py", 4, "SQA001")]


def test_an_outlined_definition_still_makes_a_name_unknown(tmp_path: Path) -> None:
    """``get_db`` defined again in a file that is not kept: nobody can tell which is meant."""
    (tmp_path / "deps.py").write_text(
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "async def get_db() -> AsyncSession:\n"
        "    ...\n"
    )
    (tmp_path / "other.py").write_text("def get_db():\n    return object()\n")
    (tmp_path / "routes.py").write_text(
        "from fastapi import Depends\n"
        "from deps import get_db\n"
        "async def drop(x, db=Depends(get_db)):\n"
        "    db.delete(x)\n"
    )
    assert check_paths([tmp_path]) == []
    (tmp_path / "other.py").unlink()
    assert [f.code for f in check_paths([tmp_path])] == ["SQA001"]
