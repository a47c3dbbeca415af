"""The interface every peer implements, and the list of them.

Each method does one operation the way that library's users write it, from the same plain
inputs; converting those inputs (dicts) to what the API wants is part of the timed work.
Reads return whatever the library returns; :meth:`Implementation.row` turns one result into
an ``(id, email, name)`` tuple afterwards, outside the timing, for the correctness check.
Operation ``tx-get`` is method ``tx_get`` (see :func:`method`).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from .target import BACKENDS, Target
from .workload import Row

PageResult = tuple[list[Any], int]
Change = tuple[int, str]  # (id, new name)

# module, class — in table order; the raw drivers first (they are the reference).
REGISTRY = (
    ("impl_asyncpg", "AsyncpgImpl"),
    ("impl_aiosqlite", "AiosqliteImpl"),
    ("impl_asyncmy", "AsyncmyImpl"),
    ("impl_core", "CoreImpl"),
    ("impl_orm", "OrmImpl"),
    ("impl_advanced_alchemy", "AdvancedAlchemyImpl"),
    ("impl_fastcrud", "FastCrudImpl"),
    ("impl_sqlops", "SqlopsImpl"),
    ("impl_sqlops", "SqlopsInjectedImpl"),
)


def method(op: str) -> str:
    """The method that does operation ``op`` (``tx-get`` -> ``tx_get``)."""
    return op.replace("-", "_")


class Implementation(ABC):
    """One way of doing every operation against a :class:`Target`."""

    name: ClassVar[str]
    backends: ClassVar[tuple[str, ...]] = ("postgresql", "sqlite", "mysql")
    raw: ClassVar[bool] = False  # the driver itself: the reference for ratios
    notes: ClassVar[dict[str, str]] = {}  # where it cannot do an operation the same way
    # Operations it does not do at all (no cell in the table); each has a note saying why.
    skips: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, target: Target) -> None:
        self.target = target

    @abstractmethod
    async def open(self) -> None:
        """Create engines / pools / connections (not timed)."""

    @abstractmethod
    async def close(self) -> None:
        """Release everything :meth:`open` made."""

    @abstractmethod
    async def insert(self, rows: list[dict[str, Any]]) -> None:
        """Insert every row in one call, committed."""

    @abstractmethod
    async def get(self, ids: list[int]) -> list[Any]:
        """Look each id up by primary key, one call (one unit of work) per id."""

    @abstractmethod
    async def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        """For each page number: that page of ``name LIKE pattern`` by id, and the total."""

    @abstractmethod
    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        """Insert-or-update every row on a conflict on ``email``, in one call, committed."""

    @abstractmethod
    async def tx_get(self, ids: list[int]) -> list[Any]:
        """Look each id up by primary key, each in its own transaction (committed)."""

    @abstractmethod
    async def tx_update(self, changes: list[Change]) -> None:
        """For each ``(id, name)``: read the row, then set its name, in one transaction."""

    @abstractmethod
    async def stream(self, batch: int) -> list[Any]:
        """Iterate the whole table by id, ``batch`` rows per fetch; return what it yielded."""

    def row(self, obj: Any) -> Row:
        """An ``(id, email, name)`` tuple from one read result (not timed)."""
        return (obj.id, obj.email, obj.name)


def available(backend: str, only: list[str] | None = None) -> list[type[Implementation]]:
    """The implementation classes that run on ``backend`` (optionally only those named).

    A peer whose library is not installed is left out (see :func:`missing`).
    """
    found = []
    for module_name, class_name in REGISTRY:
        try:
            module = importlib.import_module(f"{__package__}.{module_name}")
        except ImportError:
            continue
        cls: type[Implementation] = getattr(module, class_name)
        if backend in cls.backends and (not only or cls.name in only):
            found.append(cls)
    return found


def missing() -> dict[str, str]:
    """Implementation modules that cannot be imported, with the reason."""
    out = {}
    for module_name, _ in REGISTRY:
        try:
            importlib.import_module(f"{__package__}.{module_name}")
        except ImportError as exc:
            out[module_name] = f"{exc}; install the bench extra: pip install -e '.[bench]'"
    return out


def names() -> list[str]:
    """Every implementation name, in table order."""
    found = [cls.name for backend in BACKENDS for cls in available(backend)]
    return list(dict.fromkeys(found))
