"""Query-string parameters for web frameworks: filters, ordering, pages; no framework.

Values from a query string are untrusted: every key is checked against an allowlist
before it reaches the repository, and messages echo at most a few characters of input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._errors import InvalidFilterError

RESERVED_PARAMS = frozenset({"page", "per_page", "limit", "after", "order_by"})
LIST_OPS = ("__in", "__not_in", "__between")
_MAX_ECHO = 40


@dataclass(frozen=True)
class PageParams:
    """``?page=&per_page=``, validated: pass to :meth:`Repository.page`."""

    page: int
    per_page: int


@dataclass(frozen=True)
class CursorParams:
    """``?after=&limit=``, validated: pass to :meth:`Repository.cursor_page`."""

    after: str | None
    limit: int


def parse_ordering(raw: str, allowed: Iterable[str]) -> list[str]:
    """``"name,-age"`` -> ``["name", "-age"]``, refusing names not in ``allowed``."""
    allowed = frozenset(allowed)
    terms = [t.strip() for t in raw.split(",") if t.strip()]
    for term in terms:
        if term.lstrip("+-") not in allowed:
            raise InvalidFilterError(
                f"cannot order by {term[:_MAX_ECHO]!r}; "
                f"allowed: {', '.join(sorted(allowed)) or 'nothing'}"
            )
    return terms


def parse_filters(
    items: Iterable[tuple[str, str]], allowed: Iterable[str], ignore: Iterable[str] = ()
) -> dict[str, Any]:
    """Keep allowlisted ``(key, value)`` pairs; a repeated key is a list (``__in`` only)."""
    allowed, ignore = frozenset(allowed), frozenset(ignore)
    filters: dict[str, Any] = {}
    for key, value in items:
        if key in ignore:
            continue
        if key not in allowed:
            raise InvalidFilterError(
                f"unknown filter {key[:_MAX_ECHO]!r}; "
                f"allowed filters: {', '.join(sorted(allowed)) or 'none'}"
            )
        if key not in filters:
            filters[key] = value
        elif key.endswith(LIST_OPS):
            previous = filters[key]
            filters[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            raise InvalidFilterError(f"filter {key!r} was given more than once")
    return filters
