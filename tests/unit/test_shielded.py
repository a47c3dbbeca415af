"""``shielded``: clean-up runs to its end even when its caller is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from sqlops._transaction import shielded


async def _closing(log: list[str], pause: float) -> int:
    log.append("start")
    if pause:
        await asyncio.sleep(pause)
    log.append("end")
    return 7


async def test_clean_up_that_waits_goes_on_after_the_caller_is_cancelled() -> None:
    log: list[str] = []
    caller = asyncio.create_task(shielded(_closing(log, 0.2)))
    await asyncio.sleep(0.05)
    assert log == ["start"]
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller  # the caller waited for the clean-up before it let the cancel through
    assert log == ["start", "end"]


async def test_clean_up_that_waits_returns_its_value_and_raises_its_error() -> None:
    assert await shielded(_closing([], 0.01)) == 7

    async def failing() -> None:
        await asyncio.sleep(0.01)
        raise ValueError("rollback failed")

    with pytest.raises(ValueError, match="rollback failed"):
        await shielded(failing())
