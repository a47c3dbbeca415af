"""The guided tour: each step shows the code, runs it, and shows what happened."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.table import Table
from sqlalchemy import inspect

import sqlops
from sqlops import Database, LazyLoadError, Repository, UniqueViolation
from sqlops._errors import SqlopsError
from sqlops._url import safe_url
from sqlops.audit import check_source

from ._models import DemoBase, Event, Team, User

PEOPLE = 95


class DemoTablesExistError(SqlopsError):
    """The target database already has a table with a demo table's name."""


BUGGY = """\
async def remove_inactive(session: AsyncSession, users: list[User]) -> None:
    for user in users:
        session.delete(user)        # not awaited: nothing is deleted
        await session.commit()      # one commit (one fsync) per row
"""
N_PLUS_ONE = """\
async def team_sizes(session):
    sizes = {}
    for team in await Repository(Team, session).list():
        sizes[team.name] = len(await team.awaitable_attrs.members)  # a query per team
    return sizes
"""


class Tour:
    """Runs the steps against one database and narrates them on ``console``."""

    def __init__(self, db: Database, console: Console, rows: int) -> None:
        self.db = db
        self.console = console
        self.rows = rows
        self.number = 0

    def step(self, title: str, code: str) -> None:
        self.number += 1
        self.console.rule(f"[bold]{self.number}. {title}", align="left")
        self.console.print(Syntax(textwrap.dedent(code).strip(), "python", theme="ansi_dark"))

    def say(self, text: str) -> None:
        self.console.print(f"  [green]→[/] {text}")

    async def run(self) -> None:
        """Every step in order; the caller drops the tables whatever happens."""
        await self.schema()
        ada = await self.crud()
        await self.rollback()
        await self.unique(ada)
        await self.pagination()
        await self.bulk()
        await self.lazy_loads()
        await self.n_plus_one()
        self.audit()

    async def schema(self) -> None:
        self.step("Create the schema", "await db.create_all(DemoBase.metadata)")
        await self.db.create_all(DemoBase.metadata)
        self.say("tables: " + ", ".join(sorted(DemoBase.metadata.tables)))

    async def crud(self) -> User:
        self.step(
            "CRUD with a Repository (standalone: each call commits)",
            """
            users = Repository(User, db)
            ada = await users.create(email="ada@example.com", name="Ada", team_id=red.id)
            await users.update(ada.id, name="Ada Lovelace")
            await users.delete(bob.id)
            """,
        )
        red = await Repository(Team, self.db).create(name="red")
        users = Repository(User, self.db)
        ada = await users.create(email="ada@example.com", name="Ada", team_id=red.id)
        self.say(f"created User id={ada.id} at {ada.created_at:%H:%M:%S} UTC")
        ada = await users.update(ada.id, name="Ada Lovelace")
        self.say(f"updated: {(await users.get_one(ada.id)).name!r}")
        bob = await users.create(email="bob@example.com", name="Bob")
        deleted = await users.delete(bob.id)
        self.say(f"delete(bob) -> {deleted}; get(bob) -> {await users.get(bob.id)}")
        return ada

    async def rollback(self) -> None:
        self.step(
            "A transaction that fails rolls back",
            """
            async with db.transaction() as session:      # commits on success only
                await Repository(User, session).create(email="tmp@example.com", name="Tmp")
                raise RuntimeError("payment declined")
            """,
        )
        try:
            async with self.db.transaction() as session:
                await Repository(User, session).create(email="tmp@example.com", name="Tmp")
                self.say("inside: the row is flushed and visible to this transaction")
                raise RuntimeError("payment declined")
        except RuntimeError as exc:
            self.say(f"raised {escape(repr(exc))}")
        exists = await Repository(User, self.db).exists(email="tmp@example.com")
        self.say(f"after: exists(email='tmp@example.com') -> {exists} (rolled back)")

    async def unique(self, ada: User) -> None:
        self.step(
            "Errors that name the cause",
            """
            try:
                await users.create(email="ada@example.com", name="Another Ada")
            except UniqueViolation as exc:
                exc.table, exc.columns, exc.constraint
            """,
        )
        try:
            await Repository(User, self.db).create(email=ada.email, name="Another Ada")
        except UniqueViolation as exc:
            self.say(f"[bold]{type(exc).__name__}[/]: {escape(str(exc))}")
            self.say(
                f".table={exc.table!r} .columns={exc.columns!r} .constraint={exc.constraint!r}"
            )
        else:  # pragma: no cover - would be a bug in sqlops
            raise AssertionError("the duplicate email was accepted")

    async def pagination(self) -> None:
        self.step(
            "Pagination: offset pages with totals, and keyset cursors",
            """
            await users.create_many({"email": f"u{i}@example.com", ...} for i in range(95))
            page = await users.page(page=2, per_page=20, order_by="name")
            first = await users.cursor_page(limit=40, order_by="-id")
            more = await users.cursor_page(after=first.next_cursor, limit=40, ...)
            """,
        )
        users = Repository(User, self.db)
        people = ({"email": f"user{i}@example.com", "name": f"User {i:03}"} for i in range(PEOPLE))
        await users.create_many(people)
        page = await users.page(page=2, per_page=20, order_by="name")
        names = ", ".join(u.name for u in page.items[:3])
        self.say(f"page {page.page}/{page.pages}: {len(page.items)} of {page.total} ({names}, ...)")
        cursor, seen, pages = None, 0, 0
        while True:
            chunk = await users.cursor_page(after=cursor, limit=40, order_by="-id")
            seen, pages = seen + len(chunk.items), pages + 1
            if chunk.next_cursor is None:
                break
            if pages == 1:
                self.say(f"next_cursor={chunk.next_cursor[:24]}... (opaque, tamper-evident)")
            cursor = chunk.next_cursor
        self.say(f"walked {seen} users in {pages} cursor pages, each a single indexed query")

    async def bulk(self) -> None:
        self.step(
            f"Bulk insert: {self.rows:,} rows from a generator",
            """
            rows = ({"kind": "click", "amount": i} for i in range(100_000))
            await events.create_many(rows, progress=bar.update)   # chunked, flat memory
            """,
        )
        events = Repository(Event, self.db)
        columns = (TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeElapsedColumn(), console=self.console) as bar:
            task = bar.add_task("create_many", total=self.rows)
            start = time.perf_counter()
            count = await events.create_many(
                _events(self.rows), progress=lambda done: bar.update(task, completed=done)
            )
            elapsed = time.perf_counter() - start
        rate = count / elapsed if elapsed else float(count)
        self.say(f"{count:,} rows in {elapsed:.2f}s ({rate:,.0f} rows/s), one transaction")

    async def lazy_loads(self) -> None:
        self.step(
            "Lazy loads name the relationship instead of MissingGreenlet",
            """
            team = await teams.first(name="red")
            team.members                     # not loaded: LazyLoadError, not MissingGreenlet
            team = await teams.first(name="red", load=["members"])            # the fix
            """,
        )
        teams = Repository(Team, self.db)
        team = await teams.first(name="red")
        assert team is not None
        try:
            len(team.members)
        except LazyLoadError as exc:
            self.say(f"[bold]LazyLoadError[/]: {escape(exc.args[0])}")  # no sqlalche.me link
        team = await teams.first(name="red", load=["members"])
        assert team is not None
        self.say(escape(f"with load=['members']: {[u.name for u in team.members]}"))

    async def n_plus_one(self) -> None:
        self.step("An N+1 caught by the guard: Database(url, n_plus_one='raise')", N_PLUS_ONE)
        await Repository(Team, self.db).create_many([{"name": n} for n in ("blue", "green")])
        # Run the very code shown, compiled under its own file name: the guard reports the
        # line of *application* code that loads in a loop, and sqlops' own files are not.
        namespace: dict[str, Any] = {"Repository": Repository, "Team": Team}
        exec(compile(N_PLUS_ONE, "team_sizes.py", "exec"), namespace)
        guarded = Database(self.db.url, n_plus_one="raise")
        try:
            async with guarded.session() as session:
                await namespace["team_sizes"](session)
        except LazyLoadError as exc:  # NPlusOneError is a LazyLoadError
            self.say(f"[bold]{type(exc).__name__}[/]: {escape(exc.args[0])}")
        else:  # pragma: no cover - would be a bug in the guard
            raise AssertionError("the N+1 guard did not fire")
        finally:
            await guarded.dispose()
        async with self.db.session() as session:
            teams = await Repository(Team, session).list(load=["members"])
        sizes = {team.name: len(team.members) for team in teams}
        self.say(escape(f"with load=['members'] (2 queries in all): {sizes}"))

    def audit(self) -> None:
        self.step("sqlops audit finds async mistakes before they ship", BUGGY)
        table = Table("line", "code", "problem", "fix", box=None, padding=(0, 2, 0, 2))
        for finding in check_source(BUGGY, path="cleanup.py"):
            table.add_row(
                str(finding.line), finding.code, escape(finding.message), escape(finding.fix)
            )
        self.console.print(table)


def _events(count: int) -> Iterator[dict[str, Any]]:
    kinds = ("click", "view", "buy")
    for i in range(count):
        yield {"kind": kinds[i % 3], "amount": i % 100}


def sqlite_file(db: Database) -> Path | None:
    """The file behind a SQLite database (None for a server or in-memory database)."""
    database = db.url.database or ""
    if db.dialect != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


async def run_demo(url: str | None = None, *, rows: int = 100_000, console: Console) -> None:
    """Run the tour on ``url`` (default: ``$DATABASE_URL`` or ``./sqlops.db``), then clean up.

    Only ``demo_*`` tables are created, and they are dropped at the end even if a step
    fails; a SQLite file the demo had to create is removed too.
    """
    db = Database(url)
    path = sqlite_file(db)
    existed = path is None or path.exists()
    try:
        await _refuse_existing_tables(db)
    except BaseException:
        await db.dispose()
        raise
    console.print(
        Panel.fit(
            f"[bold]sqlops {sqlops.__version__}[/] guided tour on [cyan]{safe_url(db.url)}[/]\n"
            "Demo tables are prefixed demo_ and dropped at the end.",
        )
    )
    try:
        await Tour(db, console, rows).run()
    finally:
        try:
            await db.drop_all(DemoBase.metadata)
        finally:
            await db.dispose()
            if not existed and path is not None:
                _remove_sqlite_files(path)
    console.rule("[bold green]done", align="left")
    command = escape(sqlops_command())
    console.print(
        f"  demo tables dropped. Next: `{command} doctor`, then `{command} migrate init`."
    )


def sqlops_command() -> str:
    """How to run ``sqlops`` again: the path typed (``.venv/bin/sqlops``) when not on PATH."""
    typed = sys.argv[0] if sys.argv else ""
    if Path(typed).name != "sqlops" or os.sep not in typed:
        return "sqlops"
    on_path = shutil.which("sqlops")
    if on_path is not None and Path(on_path).resolve() == Path(typed).resolve():
        return "sqlops"
    return typed


async def _refuse_existing_tables(db: Database) -> None:
    """Stop before touching a database that already has a table named like a demo one.

    The demo drops its tables at the end; a table it did not create in this run may hold
    someone's data (or be left by a demo that was killed), so it is never dropped.
    """
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    taken = sorted(names & set(DemoBase.metadata.tables))
    if taken:
        raise DemoTablesExistError(
            f"{', '.join(taken)} already on {safe_url(db.url)}: the demo never drops tables "
            "it did not create; drop them yourself if an earlier demo left them, "
            "or give another database with --url"
        )


def _remove_sqlite_files(path: Path) -> None:
    """Remove a SQLite file the demo created, with its WAL companions."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
