"""SQA006: an async session factory left with ``expire_on_commit=True``.

After ``commit()`` every loaded attribute is expired. With a sync session the next
access reloads it quietly; with an ``AsyncSession`` that reload is implicit I/O
and raises ``MissingGreenlet`` — typically in ``return user`` right after the
commit, when FastAPI serialises the response.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import Kind

_BUILT = frozenset({Kind.ASYNC_SESSION, Kind.ASYNC_FACTORY})
_NAMES = frozenset({"AsyncSession", "async_sessionmaker", "sessionmaker"})


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag ``async_sessionmaker()``/``AsyncSession()`` calls that leave the default."""
    for call in ctx.index.calls(*_NAMES):
        name = ctx.callee(call)
        if name.rsplit(".", 1)[-1] not in _NAMES:
            continue
        if any(k.arg is None or k.arg == "expire_on_commit" for k in call.keywords):
            continue  # set explicitly, or hidden in **options
        scope = ctx.scope_of(call)
        if ctx.is_imported(call.func, scope) and ctx.call_kind(call, scope) in _BUILT:
            short = name.rsplit(".", 1)[-1]
            yield Hit(
                call,
                f"`{short}()` keeps expire_on_commit=True: after commit() every attribute is "
                "expired and the next access does implicit I/O, which raises MissingGreenlet "
                "in async code",
                f"pass `expire_on_commit=False` to `{short}()`",
            )


RULE = Rule(
    code="SQA006",
    name="async-expire-on-commit",
    summary="`async_sessionmaker()`/`AsyncSession()` without `expire_on_commit=False`",
    fix="pass `expire_on_commit=False`",
    check=check,
    doc=__doc__ or "",
    in_tests=False,
)
