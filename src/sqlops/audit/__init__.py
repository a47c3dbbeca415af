"""A static checker for async SQLAlchemy mistakes, in pure Python (`ast`).

    >>> from sqlops.audit import check_source
    >>> src = "async def drop(db: AsyncSession, user):\\n    db.delete(user)\\n"
    >>> [f.code for f in check_source(src)]
    ['SQA001']

Rules fire only on expressions whose kind is known (an ``AsyncSession``
annotation, an ``async_sessionmaker``, a ``Depends(get_db)``...), so sync
SQLAlchemy code and look-alikes such as ``aiohttp.ClientSession`` stay quiet.
"""

from sqlops.audit._cli import main
from sqlops.audit._engine import check_paths, check_source
from sqlops.audit._finding import Finding
from sqlops.audit.rules import RULES

__all__ = ["Finding", "RULES", "check_paths", "check_source", "main"]
