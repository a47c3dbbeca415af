"""Custody rules, enforced by the database under concurrency.

Every status change is one conditional UPDATE::

    UPDATE kits SET status = 'checked_out', holder_id = :staff
    WHERE id = :kit AND status = 'available'

and the number of rows it changed decides: 1, the move happened; 0, someone else got
there first (or the kit is in the wrong state) and nothing changed. Two concurrent
check-outs cannot both succeed: the second UPDATE waits for the first one's row lock
and then re-checks its WHERE against the committed row (PostgreSQL READ COMMITTED,
InnoDB's locking reads), or waits for the write lock (SQLite). Why not
``SELECT … FOR UPDATE`` then UPDATE? It is two round trips holding a lock in between,
SQLite has no such clause, and forgetting the lock on one code path reintroduces the
race; the conditional UPDATE has nothing to forget.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

import sqlops
from sqlops import sync
from sqlops.models import utcnow

from .models import CustodyEvent, EventKind, Kit, KitStatus, MaintenanceRecord, Staff

_ANYONE = object()


class KitUnavailable(Exception):
    """The kit is not in a state (or not with the person) the move needs."""

    def __init__(self, kit: Kit, action: str) -> None:
        self.kit_id = kit.id
        self.status = kit.status
        super().__init__(f"kit {kit.tag} cannot be {action}: it is {kit.status.value}")


class CustodyService:
    """Custody moves in the caller's transaction: each move and its event commit together."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.kits = sync.Repository(Kit, session)
        self.staff = sync.Repository(Staff, session)
        self.events = sync.Repository(CustodyEvent, session)
        self.repairs = sync.Repository(MaintenanceRecord, session)

    def check_out(self, kit_id: int, staff_id: int, note: str | None = None) -> Kit:
        self.staff.get_one(staff_id)
        kit = self._move(
            kit_id,
            "checked out",
            {KitStatus.available},
            {"status": KitStatus.checked_out, "holder_id": staff_id},
        )
        self._log(kit, EventKind.check_out, staff_id, to_staff_id=staff_id, note=note)
        return kit

    def check_in(self, kit_id: int, staff_id: int) -> Kit:
        """Only the holder checks a kit back in."""
        kit = self._move(
            kit_id,
            "checked in by this person",
            {KitStatus.checked_out},
            {"status": KitStatus.available, "holder_id": None},
            holder=staff_id,
        )
        self._log(kit, EventKind.check_in, staff_id, from_staff_id=staff_id)
        return kit

    def transfer(self, kit_id: int, from_staff_id: int, to_staff_id: int) -> Kit:
        self.staff.get_one(to_staff_id)
        kit = self._move(
            kit_id,
            "transferred from this person",
            {KitStatus.checked_out},
            {"holder_id": to_staff_id},
            holder=from_staff_id,
        )
        self._log(
            kit,
            EventKind.transfer,
            from_staff_id,
            from_staff_id=from_staff_id,
            to_staff_id=to_staff_id,
        )
        return kit

    def report_lost(self, kit_id: int, staff_id: int) -> Kit:
        # Who had it goes in the event: read it under the row lock the move will need anyway.
        holder = (self._current(kit_id, exclusive=True)).holder_id
        kit = self._move(
            kit_id,
            "reported lost",
            {KitStatus.available, KitStatus.checked_out},
            {"status": KitStatus.lost, "holder_id": None},
        )
        self._log(kit, EventKind.lost, staff_id, from_staff_id=holder)
        return kit

    def report_found(self, kit_id: int, staff_id: int) -> Kit:
        kit = self._move(kit_id, "found", {KitStatus.lost}, {"status": KitStatus.available})
        self._log(kit, EventKind.found, staff_id)
        return kit

    def start_maintenance(self, kit_id: int, staff_id: int, description: str) -> MaintenanceRecord:
        kit = self._move(
            kit_id, "sent to maintenance", {KitStatus.available}, {"status": KitStatus.maintenance}
        )
        self._log(kit, EventKind.maintenance, staff_id, note=description)
        return self.repairs.create(kit_id=kit_id, description=description)

    def finish_maintenance(self, record_id: int, staff_id: int) -> MaintenanceRecord:
        closed = self.repairs.update_where(
            values={"closed_at": utcnow()}, id=record_id, closed_at__is_null=True
        )
        record = self.repairs.get_one(record_id)
        if not closed:
            raise KitUnavailable(self.kits.get_one(record.kit_id), "repaired twice")
        kit = self._move(
            record.kit_id,
            "returned from maintenance",
            {KitStatus.maintenance},
            {"status": KitStatus.available},
        )
        self._log(kit, EventKind.repaired, staff_id)
        return record

    def history(self, kit_id: int) -> list[CustodyEvent]:
        self.kits.get_one(kit_id)
        return self.events.list(kit_id=kit_id, order_by=["created_at", "id"])

    def _move(
        self,
        kit_id: int,
        action: str,
        allowed: Collection[KitStatus],
        values: dict[str, Any],
        holder: object = _ANYONE,
    ) -> Kit:
        """Apply ``values`` only if the kit's status is ``allowed`` (and ``holder`` holds it)."""
        conditions: list[ColumnElement[bool]] = [Kit.status.in_(list(allowed))]
        if holder is not _ANYONE:
            conditions.append(Kit.holder_id == holder)
        if not self.kits.update_where(*conditions, id=kit_id, values=values):
            raise KitUnavailable(self._current(kit_id), action)
        return self._current(kit_id)

    def _current(self, kit_id: int, *, exclusive: bool = False) -> Kit:
        """The kit as committed now: a locking read, not this transaction's old snapshot."""
        stmt = select(Kit).where(Kit.id == kit_id).with_for_update(read=not exclusive)
        kit = self.session.scalars(stmt, execution_options={"populate_existing": True}).first()
        if kit is None:
            raise sqlops.NotFoundError(Kit, kit_id)
        return kit

    def _log(self, kit: Kit, kind: EventKind, actor_id: int, **fields: Any) -> None:
        self.events.create(kit_id=kit.id, kind=kind, actor_id=actor_id, **fields)
