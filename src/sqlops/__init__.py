"""sqlops — the async data layer on SQLAlchemy 2.

::

    import sqlops

    db = sqlops.Database("postgresql://app@localhost/app")
    users = sqlops.Repository(User, db)
    user = await users.create(email="ada@example.com")
    page = await users.page(name__ilike="a%", page=2, per_page=20)
"""

from ._database import Database, PoolTimeoutError
from ._errors import (
    CheckViolation,
    ConstraintViolation,
    DatabaseUnavailableError,
    ForeignKeyViolation,
    InvalidCursorError,
    InvalidFilterError,
    InvalidValueError,
    LazyLoadError,
    MultipleFoundError,
    NotFoundError,
    NotNullViolation,
    SessionMisuseError,
    SqlopsError,
    TransactionConflictError,
    UniqueViolation,
)
from ._filters import OPERATORS
from ._pagination import CursorPage, Page
from ._repository import Repository
from ._translate import translate

__version__ = "0.1.0"

__all__ = [
    "CheckViolation",
    "ConstraintViolation",
    "CursorPage",
    "Database",
    "DatabaseUnavailableError",
    "ForeignKeyViolation",
    "InvalidCursorError",
    "InvalidFilterError",
    "InvalidValueError",
    "LazyLoadError",
    "MultipleFoundError",
    "NotFoundError",
    "NotNullViolation",
    "OPERATORS",
    "Page",
    "PoolTimeoutError",
    "Repository",
    "SessionMisuseError",
    "SqlopsError",
    "TransactionConflictError",
    "UniqueViolation",
    "__version__",
    "translate",
]
