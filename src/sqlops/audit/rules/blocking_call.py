"""SQA013: a blocking database call inside ``async def``.

A sync ``Session``, a ``create_engine()`` engine or a DB-API ``connect()`` blocks
the event loop for the whole round trip: every other request on the worker waits.
Under load the service stalls while the CPU idles. Use the async driver and
``AsyncSession``, or push the sync code to a thread (``run_in_threadpool``,
``asyncio.to_thread``, ``AsyncSession.run_sync``).

Building a sync ``Session``, ``sessionmaker`` or ``create_engine()`` engine is not
flagged: it does no I/O (middleware builds sessions for sync routes, and code hands
them to a thread) — the round trips on them are.

Code in nested functions and lambdas is not flagged: that is how work is handed
to a thread. Startup code (``lifespan``, ``main``, ``setup``, ``init_*``,
``create_app``) is not flagged: nothing else is waiting yet. Each ``async def``
is reported once, at its first blocking call.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import key, method_call
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import IO_METHODS, SYNC_EXECUTORS, Kind

_DRIVERS = frozenset(
    {
        "psycopg2.connect",
        "psycopg.connect",
        "psycopg.Connection.connect",
        "sqlite3.connect",
        "pymysql.connect",
        "MySQLdb.connect",
        "mysql.connector.connect",
        "pyodbc.connect",
        "cx_Oracle.connect",
        "oracledb.connect",
    }
)
_STARTUP = ("lifespan", "main", "setup", "init", "startup", "on_startup", "create_app")


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag sync sessions, engines and driver connections used directly in ``async def``."""
    reported: set[ast.AST | None] = set()
    calls = [c for c in ctx.index.nodes(ast.Call) if ctx.in_async_body(c) and _serving(ctx, c)]
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
        what = _blocking(ctx, call)
        if what is None:
            continue
        function = ctx.function_of(call)
        if function not in reported:
            reported.add(function)
            yield Hit(
                call,
                f"{what} inside `async def` blocks the event loop for every round trip: "
                "all other requests on this worker wait",
                "use AsyncSession / create_async_engine with an async driver, or run the "
                "sync code in a thread (`await asyncio.to_thread(fn)`)",
            )


def _serving(ctx: FileContext, call: ast.Call) -> bool:
    """Tell whether the call may run while requests are served (not in startup code)."""
    function = ctx.function_of(call)
    return function is None or not function.name.lower().startswith(_STARTUP)


def _blocking(ctx: FileContext, call: ast.Call) -> str | None:
    """Describe the call when it blocks on the database."""
    name = ctx.callee(call)
    if name in _DRIVERS:
        return f"`{name}()`"
    split = method_call(call)
    if split is not None and split[1] in IO_METHODS:
        kind = ctx.kind(split[0])
        if isinstance(kind, Kind) and kind in SYNC_EXECUTORS:
            return f"`{key(split[0])}.{split[1]}()` on a sync {kind.value}"
        return None
    connects = split is not None and split[1] in ("connect", "begin")
    if connects and split is not None and ctx.kind(split[0]) is Kind.SYNC_ENGINE:
        return f"`{key(split[0])}.{split[1]}()` on a sync Engine"
    return None


RULE = Rule(
    code="SQA013",
    name="blocking-call-in-async",
    summary="Blocking database call inside `async def` (sync Session or Engine, DB-API)",
    fix="use the async engine and AsyncSession, or run the sync code in a thread",
    check=check,
    doc=__doc__ or "",
    in_tests=False,
)
