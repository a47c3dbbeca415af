"""The sync Repository's static types: generated from the async ones, and precise."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sqlops.sync import _typegen

ROOT = Path(__file__).resolve().parents[2]


def test_the_generated_types_are_current() -> None:
    assert _typegen.main(["--check"]) == 0, "run: python -m sqlops.sync._typegen"


def test_every_public_method_has_a_typed_signature() -> None:
    from sqlops.sync._repository import public_methods

    text = _typegen.TARGET.read_text()
    missing = [name for name in public_methods() if f"def {name}(" not in text]
    assert missing == []


@pytest.mark.slow
def test_type_checkers_see_models_and_schemas_not_coroutines(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    code = textwrap.dedent(
        """
        from collections.abc import Iterator
        from typing_extensions import assert_type  # typing's is Python 3.11+

        from pydantic import BaseModel
        from sqlalchemy.orm import Session

        from sqlops import sync
        from sqlops._pagination import Page
        from tests.models import Team

        class TeamOut(BaseModel):
            id: int
            name: str

        def use(db: sync.Database, session: Session) -> None:
            teams = sync.Repository(Team, db)
            assert_type(teams.get(1), Team | None)
            assert_type(teams.get_one(1), Team)
            assert_type(teams.get(1, schema=TeamOut), TeamOut | None)
            assert_type(teams.list(name="a"), list[Team])
            assert_type(teams.page(page=1), Page[Team])
            assert_type(teams.stream(), Iterator[Team])
            assert_type(teams.create(name="a"), Team)
            assert_type(teams.count(), int)
            assert_type(teams.get_or_create(name="a"), tuple[Team, bool])
            assert_type(sync.Repository(Team, session).delete(1), bool)
            teams.get(1).name  # E: the Optional is real
        """
    )
    snippet = tmp_path / "snippet.py"
    snippet.write_text(code)
    config = tmp_path / "mypy.ini"  # not the project's: that one names its own files
    config.write_text(f"[mypy]\nstrict = True\nmypy_path = {ROOT / 'src'}:{ROOT}\n")
    args = ["--config-file", str(config), "--no-error-summary", str(snippet)]
    out, err, _ = api.run([*args, "--cache-dir", str(tmp_path / "cache")])
    lines = [line for line in out.splitlines() if "error" in line]
    assert len(lines) == 1, out + err
    assert 'Item "None" of "Team | None" has no attribute "name"' in lines[0], out
