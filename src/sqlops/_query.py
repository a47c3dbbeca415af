"""What a read asks for, described once: the value every route is built from.

A read method fills in a :class:`ReadQuery` (its criteria, order, window, loading and
mode-independent options) and hands it to :mod:`sqlops._executor`, which alone decides
how to run it (a compiled template on the driver, a Core statement, the ORM session) and
builds the results. So a method is written once, and a route is added in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._expressions import Where

#: The shapes of read: one row by key, rows, rows with the total, a keyset page, scalars.
KINDS = ("get", "first", "one", "list", "page", "cursor", "count", "exists")


@dataclass(frozen=True)
class ReadQuery:
    """One read: everything the routes need to build and run its statement."""

    kind: str
    where: Sequence[Where] = ()
    filters: Mapping[str, Any] = field(default_factory=dict)
    order_by: Any = None
    limit: int | None = None
    offset: int | None = None
    load: Sequence[Any] | str = ()
    with_deleted: bool = False
    for_update: bool = False
    schema: Any = None
    #: ``get``: the primary key values, in the mapper's order
    identity: tuple[Any, ...] = ()
    #: ``cursor``: the sort keys (primary key last) and the values to start after
    keys: Sequence[Any] = ()
    after: Sequence[Any] | None = None

    @property
    def instances(self) -> bool:
        """Whether the result is model instances (not a count or a flag)."""
        return self.kind not in ("count", "exists")

    @property
    def criteria_free(self) -> bool:
        """No hand-written criteria: only keyword filters, which a template can bind."""
        return not self.where
