"""``sqlops audit`` finds nothing in the pickup package, and finds the classic mistake."""

from __future__ import annotations

from pathlib import Path

import pickup

from sqlops.audit import check_paths, check_source

PACKAGE = Path(pickup.__file__).parent


def test_pickup_package_is_audit_clean():
    assert check_paths([PACKAGE]) == []


def test_audit_finds_an_unawaited_delete():
    buggy = (
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "async def delete_session(session: AsyncSession, obj) -> None:\n"
        "    session.delete(obj)\n"
        "    await session.commit()\n"
    )
    findings = check_source(buggy, "pickup_buggy.py")
    assert [(f.code, f.line) for f in findings] == [("SQA001", 3)]
