"""sqlops — the async data layer on SQLAlchemy 2.

::

    import sqlops

    db = sqlops.Database("postgresql://app@localhost/app")
    users = sqlops.Repository(User, db)
    user = await users.create(email="ada@example.com")
    page = await users.page(name__ilike="a%", page=2, per_page=20)
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names are imported on first use: see __getattr__
    from ._database import Database, PoolTimeoutError
    from ._errors import (
        AmbiguousCommitError,
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
        ReadOnlyTransactionError,
        SessionMisuseError,
        SqlopsError,
        TransactionConflictError,
        UniqueViolation,
    )
    from ._filters import OPERATORS
    from ._guards import NPlusOneError, NPlusOneWarning, SessionLeakWarning
    from ._pagination import CursorPage, Page
    from ._repository import Repository
    from ._translate import translate

# Importing sqlops must stay cheap (``python -m sqlops.audit`` needs no SQLAlchemy), so
# each public name is imported from its module the first time it is used.
_MODULES = {
    "NPlusOneError": "._guards",
    "NPlusOneWarning": "._guards",
    "SessionLeakWarning": "._guards",
    "Database": "._database",
    "PoolTimeoutError": "._database",
    "OPERATORS": "._filters",
    "CursorPage": "._pagination",
    "Page": "._pagination",
    "Repository": "._repository",
    "translate": "._translate",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES or (name in __all__ and name != "__version__"):
        import importlib

        module = importlib.import_module(_MODULES.get(name, "._errors"), __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sqlops' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__version__ = "0.1.0"

__all__ = [
    "AmbiguousCommitError",
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
    "NPlusOneError",
    "NPlusOneWarning",
    "NotFoundError",
    "NotNullViolation",
    "OPERATORS",
    "Page",
    "PoolTimeoutError",
    "ReadOnlyTransactionError",
    "Repository",
    "SessionLeakWarning",
    "SessionMisuseError",
    "SqlopsError",
    "TransactionConflictError",
    "UniqueViolation",
    "__version__",
    "translate",
]
