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
        InvalidURLError,
        InvalidValueError,
        LazyLoadError,
        MissingDependencyError,
        MultipleFoundError,
        NotFoundError,
        NotNullViolation,
        PreparedStatementError,
        ReadOnlyTransactionError,
        SchemaError,
        SessionMisuseError,
        SqlopsError,
        StaleVersionError,
        TransactionAbortedError,
        TransactionConflictError,
        UniqueViolation,
    )
    from ._expressions import Q, Search
    from ._filters import OPERATORS
    from ._guards import NPlusOneError, NPlusOneWarning, SessionLeakWarning
    from ._pagination import CursorPage, Page
    from ._repository import Repository
    from ._translate import translate
    from ._url import SyncDriverError

# Importing sqlops must stay cheap (``python -m sqlops.audit`` needs no SQLAlchemy), so
# each public name is imported from its module the first time it is used.
_MODULES = {
    "NPlusOneError": "._guards",
    "NPlusOneWarning": "._guards",
    "SessionLeakWarning": "._guards",
    "Database": "._database",
    "PoolTimeoutError": "._database",
    "OPERATORS": "._filters",
    "Q": "._expressions",
    "Search": "._expressions",
    "CursorPage": "._pagination",
    "Page": "._pagination",
    "Repository": "._repository",
    "translate": "._translate",
    "SyncDriverError": "._url",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES or (name in __all__ and name != "__version__"):
        import importlib

        module = importlib.import_module(_MODULES.get(name, "._errors"), __name__)
        value = getattr(module, name)
        globals()[name] = value
        _publish()
        return value
    raise AttributeError(f"module 'sqlops' has no attribute {name!r}")


def _publish() -> None:
    """Show public classes as ``sqlops.X`` (tracebacks, reprs), not ``sqlops._errors.X``.

    Only classes of modules already imported are renamed, so nothing is imported here;
    pickling still works, since ``sqlops.X`` resolves through ``__getattr__``. Classes
    with annotated fields (``Page``) keep their module: ``typing.get_type_hints`` and
    pydantic resolve those annotations in it.
    """
    import sys

    for public in __all__:
        module = sys.modules.get(__name__ + _MODULES.get(public, "._errors"))
        value = getattr(module, public, None)
        if not isinstance(value, type) or not value.__module__.startswith(__name__ + "._"):
            continue
        if issubclass(value, BaseException) or not vars(value).get("__annotations__"):
            value.__module__ = __name__


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
    "InvalidURLError",
    "InvalidValueError",
    "LazyLoadError",
    "MissingDependencyError",
    "MultipleFoundError",
    "NPlusOneError",
    "NPlusOneWarning",
    "NotFoundError",
    "NotNullViolation",
    "OPERATORS",
    "Page",
    "PoolTimeoutError",
    "PreparedStatementError",
    "Q",
    "ReadOnlyTransactionError",
    "Repository",
    "SchemaError",
    "Search",
    "SessionLeakWarning",
    "SessionMisuseError",
    "SqlopsError",
    "StaleVersionError",
    "SyncDriverError",
    "TransactionAbortedError",
    "TransactionConflictError",
    "UniqueViolation",
    "__version__",
    "translate",
]
