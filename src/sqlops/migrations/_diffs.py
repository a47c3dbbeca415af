"""Alembic's autogenerate diffs as short sentences: ``add column users.age``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_VERB = {"add": "add", "remove": "drop"}
_MODIFY = {
    "modify_type": "type",
    "modify_nullable": "nullability",
    "modify_default": "default",
    "modify_comment": "comment",
}


def describe_diffs(diffs: Sequence[Any]) -> list[str]:
    """One line per difference, in Alembic's order."""
    lines: list[str] = []
    for diff in diffs:
        if isinstance(diff, list):  # column modifications come grouped per column
            lines.extend(_modification(item) for item in diff)
        else:
            lines.append(_change(diff))
    return lines


def _change(diff: tuple[Any, ...]) -> str:
    verb, _, kind = diff[0].partition("_")
    verb = _VERB.get(verb, verb)
    if kind == "column":
        _, _, table, column = diff[:4]
        return f"{verb} column {table}.{column.name}"
    obj = diff[1]
    if kind == "table":
        return f"{verb} table {obj.name}"
    table = getattr(getattr(obj, "table", None), "name", None)
    noun = {"fk": "foreign key", "index": "index", "constraint": "constraint"}.get(kind, kind)
    on = f" on {table}" if table else ""
    return f"{verb} {noun} {obj.name or '(unnamed)'}{on}"


def _modification(item: tuple[Any, ...]) -> str:
    kind, _, table, column, _, old, new = item[:7]
    what = _MODIFY.get(kind, kind)
    return f"change {what} of {table}.{column}: {_show(old)} -> {_show(new)}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "NULL" if value else "NOT NULL"
    arg = getattr(value, "arg", None)  # a server default
    return str(getattr(arg, "text", arg) if arg is not None else value)
