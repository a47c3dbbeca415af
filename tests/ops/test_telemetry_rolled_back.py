"""A Database under ``rolled_back()`` (the test kit's BoundDatabase) reports like its parent."""

from __future__ import annotations

import sqlops
from sqlops.testing import rolled_back
from tests.models import Team
from tests.ops.conftest import Otel


async def test_a_bound_database_reports_repository_calls_and_transactions(
    traced: sqlops.Database, otel: Otel
) -> None:
    async with rolled_back(traced) as test_db:
        teams = sqlops.Repository(Team, test_db)
        team = await teams.create(name="inside the test transaction")
        assert await teams.get(team.id) is not None
        async with test_db.transaction() as session:
            await sqlops.Repository(Team, session).count()

        async def count(session: object) -> int:
            return await sqlops.Repository(Team, session).count()  # type: ignore[arg-type]

        assert await test_db.run(count) == 1
    names = [span.name for span in otel.finished()]
    namespace = traced._telemetry.namespace  # type: ignore[union-attr]
    assert "INSERT teams" in names and "SELECT teams" in names, names
    assert names.count(f"TRANSACTION {namespace}") == 2, names  # transaction() and run()
