"""Repository[Model]: CRUD, filters, pagination and streaming for one mapped class.

Two modes, chosen by what you pass:

* ``Repository(User, db)`` — standalone: every call is its own transaction, committed
  (reads use a read-only transaction, which may be served by a replica).
* ``Repository(User, session)`` — injected: calls only flush; the code that opened the
  transaction commits or rolls back, so several repositories can write atomically.
"""

from __future__ import annotations

from typing import TypeVar

from ._reads import Reads
from ._typedreads import TypedReads
from ._writes import Writes

M = TypeVar("M")


class Repository(TypedReads[M], Reads[M], Writes[M]):
    """Data access for ``model``, bound to a :class:`Database` or an ``AsyncSession``.

    The methods live in two modules by concept — :mod:`sqlops._reads` and
    :mod:`sqlops._writes` — over :mod:`sqlops._repobase` (modes and statements).
    """
