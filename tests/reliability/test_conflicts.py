"""Conflicting transactions under load: every transfer lands exactly once, money is conserved.

60 transfers between 5 accounts run at once through ``db.run()``. On PostgreSQL they are
read-modify-write transactions at SERIALIZABLE, so most of them collide with a
serialization failure; on MariaDB each locks its source and then its target row
(``SELECT … FOR UPDATE``), so opposite transfers deadlock. ``run()`` retries the whole
transaction; the test checks the ledger (one row per transfer, never two), the
balances (exactly what the transfers add up to) and the total.
"""

from __future__ import annotations

import asyncio
import random
import statistics
from collections import Counter as Tally

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
from tests.models import Account, Counter
from tests.reliability._figures import record

TRANSFERS = 60
ACCOUNTS = 5
OPENING = 10_000
RETRIES = 30


def _plan(seed: int) -> list[tuple[int, int, int]]:
    """``(source, target, amount)`` for every transfer; sources and targets are 1-based."""
    rng = random.Random(seed)
    plan = []
    for _ in range(TRANSFERS):
        source, target = rng.sample(range(1, ACCOUNTS + 1), 2)
        plan.append((source, target, rng.randint(1, 100)))
    return plan


async def _open_accounts(db: sqlops.Database) -> list[int]:
    accounts = sqlops.Repository(Account, db)
    rows = [{"owner": f"owner {n}", "balance": OPENING} for n in range(1, ACCOUNTS + 1)]
    await accounts.create_many(rows)
    return [a.id for a in await accounts.list(order_by="id")]


async def _run_transfers(
    db: sqlops.Database,
    backend: str,
    ids: list[int],
    plan: list[tuple[int, int, int]],
    retries: int = RETRIES,
) -> tuple[Tally[int], list[BaseException | None]]:
    attempts: Tally[int] = Tally()
    level = "SERIALIZABLE" if backend == "postgresql" else None

    async def transfer(s: AsyncSession, number: int, source: int, target: int, amount: int) -> None:
        attempts[number] += 1
        if backend == "mysql":  # lock source then target: opposite transfers deadlock
            src = await s.get(Account, source, with_for_update=True)
            await asyncio.sleep(0.001)
            dst = await s.get(Account, target, with_for_update=True)
        else:  # plain reads, then writes: SERIALIZABLE sees the overlap
            src, dst = await s.get(Account, source), await s.get(Account, target)
            await asyncio.sleep(0.001)
        assert src is not None and dst is not None
        src.balance -= amount
        dst.balance += amount
        s.add(Counter(key=f"transfer {number}", hits=amount))  # the ledger: once per transfer

    outcomes = await asyncio.gather(
        *(
            db.run(transfer, n, ids[s - 1], ids[t - 1], amount, retries=retries, isolation=level)
            for n, (s, t, amount) in enumerate(plan)
        ),
        return_exceptions=True,
    )
    return attempts, [o if isinstance(o, BaseException) else None for o in outcomes]


async def _check_books(
    db: sqlops.Database, ids: list[int], plan: list[tuple[int, int, int]], landed: set[int]
) -> None:
    """The ledger holds exactly the ``landed`` transfers; balances are exactly theirs."""
    ledger = await sqlops.Repository(Counter, db).list()
    assert sorted(c.key for c in ledger) == sorted(f"transfer {n}" for n in landed)
    expected = dict.fromkeys(ids, OPENING)
    for number, (source, target, amount) in enumerate(plan):
        if number in landed:
            expected[ids[source - 1]] -= amount
            expected[ids[target - 1]] += amount
    balances = {a.id: a.balance for a in await sqlops.Repository(Account, db).list()}
    assert balances == expected
    async with db.transaction() as s:
        total = (await s.execute(select(func.sum(Account.balance)))).scalar_one()
    assert total == OPENING * ACCOUNTS


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
async def test_concurrent_transfers_land_exactly_once_and_conserve_the_total(
    db: sqlops.Database, backend: str
) -> None:
    ids = await _open_accounts(db)
    plan = _plan(seed=7)
    before = db.stats
    attempts, failures = await _run_transfers(db, backend, ids, plan)
    assert failures == [None] * TRANSFERS
    await _check_books(db, ids, plan, landed=set(range(TRANSFERS)))

    counted = db.stats - before
    tries = [attempts[n] for n in range(TRANSFERS)]
    assert counted.runs == TRANSFERS and counted.gave_up == 0
    assert counted.attempts == sum(tries)
    assert counted.conflicts == sum(tries) - TRANSFERS > 0  # they did collide, and were retried
    name = "SERIALIZABLE, PostgreSQL" if backend == "postgresql" else "deadlocks, MariaDB"
    record(
        f"attempts per transfer ({name}, {TRANSFERS} at once on {ACCOUNTS} accounts)",
        f"mean {statistics.mean(tries):.2f}, max {max(tries)}; "
        f"{counted.conflicts} conflicts retried, none given up",
    )


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def test_transfers_that_run_out_of_retries_leave_nothing_behind(
    db: sqlops.Database, backend: str
) -> None:
    """With the default ``retries=3`` this contention is too much for some transfers."""
    ids = await _open_accounts(db)
    plan = _plan(seed=11)
    before = db.stats
    attempts, failures = await _run_transfers(db, backend, ids, plan, retries=3)
    gave_up = {n for n, failure in enumerate(failures) if failure is not None}
    for number in gave_up:
        failure = failures[number]
        assert isinstance(failure, sqlops.TransactionConflictError), repr(failure)
        assert failure.attempts == 4 == attempts[number]
    await _check_books(db, ids, plan, landed=set(range(TRANSFERS)) - gave_up)
    assert (db.stats - before).gave_up == len(gave_up)
    record(
        "transfers given up with the default retries=3 (same load, PostgreSQL)",
        f"{len(gave_up)} of {TRANSFERS}; none of them left a trace",
    )
