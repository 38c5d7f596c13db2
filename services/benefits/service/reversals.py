"""Corrections are new entries, never updates: a reversal (the department takes an entry back) or a
recovery (a reviewer confirmed double dipping).  Each negates the original's amount or quantity in
the original's chain (scheme and period); an entry is undone at most once, and a reversal is never reversed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.benefits import EntryReversed
from kernel.auth import Identity
from kernel.errors import Conflict, Forbidden, NotFound
from kernel.outbox import add_event
from kernel.queries import raw_connection
from services.benefits import SERVICE
from services.benefits.repository.catalogue import CatalogueRepository
from services.benefits.repository.ledger import LedgerRepository
from services.benefits.rules.access import actor_ids, may_post_for
from services.benefits.service import chain
from services.benefits.service.ids import uuid7
from services.benefits.service.metrics import ENTRIES_POSTED


async def visible_entry(session: AsyncSession, identity: Identity, entry_id: uuid.UUID,
                        *, lock: bool = False) -> RowMapping:
    repo = LedgerRepository(session)
    row = await (repo.entry_for_update(entry_id) if lock else repo.entry(entry_id))
    if row is None or not identity.can_access_area(row["area_code"]):
        raise NotFound("No such ledger entry in your area.")
    return row


async def reverse(session: AsyncSession, identity: Identity, entry_id: uuid.UUID, *, reason: str,
                  department_ref: str | None, now: datetime) -> tuple[RowMapping, bool]:
    """(the reversal entry, created).  The same department reference again returns the first reversal."""
    original = await visible_entry(session, identity, entry_id, lock=True)
    posting_for = await CatalogueRepository(session).departments_posted_for(actor_ids(identity))
    if not may_post_for(identity, original["department_code"], posting_for):
        raise Forbidden(f"Only {original['department_code']} reverses its own entries.")
    repo = LedgerRepository(session)
    if department_ref is not None:
        found = (await repo.by_department_refs([(original["department_code"], department_ref)])).get(
            (original["department_code"], department_ref))
        if found is not None:
            if found["reverses_id"] != entry_id:
                raise Conflict("This department reference was already used for another entry.",
                               errors=[{"field": "department_ref", "reason": "already used"}])
            return found, False
    if original["kind"] != "grant":
        raise Conflict(f"A {original['kind']} cannot be reversed; post a new entry instead.",
                       errors=[{"field": "entry_id", "reason": f"is a {original['kind']}"}])
    undone = (await repo.undoing([entry_id])).get(entry_id)
    if undone is not None:
        raise Conflict(f"This entry was already taken back by {undone['kind']} {undone['id']}.",
                       errors=[{"field": "entry_id", "reason": f"already {undone['kind']}ed"}])
    row = await write_undo(session, identity, original, kind="reversal", reason=reason,
                           department_ref=department_ref, flag_id=None, now=now)
    return row, True


async def write_undo(session: AsyncSession, identity: Identity, original: RowMapping, *, kind: str, reason: str,
                     department_ref: str | None, flag_id: uuid.UUID | None, now: datetime) -> RowMapping:
    row: dict[str, Any] = {
        **{k: original[k] for k in ("scheme_code", "department_code", "rule_version", "beneficiary",
                                    "person_id", "household_id", "identifier_hash", "area_code", "period",
                                    "period_start", "period_end", "currency", "unit", "channel")},
        "id": uuid7(), "kind": kind, "reverses_id": original["id"], "flag_id": flag_id,
        "amount_minor": -original["amount_minor"] if original["amount_minor"] is not None else None,
        "quantity": -original["quantity"] if original["quantity"] is not None else None,
        "delivered_on": now.date(), "recorded_by": identity.subject,
        "department_ref": department_ref, "evidence_ref": reason[:500], "decision": "accepted",
        "file_id": None, "file_row": None, "recorded_at": now,
    }
    await chain.append(await raw_connection(session), [row], now)
    await add_event(session, SERVICE, EntryReversed(
        entry_id=row["id"], partition=row["partition"], seq=row["seq"], scheme_code=row["scheme_code"],
        department_code=row["department_code"], person_id=row["person_id"], household_id=row["household_id"],
        area_code=row["area_code"], period=row["period"], amount_minor=row["amount_minor"],
        currency=row["currency"], quantity=row["quantity"], unit=row["unit"], rule_version=row["rule_version"],
        kind=kind, reverses_id=original["id"], reason=reason), source=SERVICE)
    ENTRIES_POSTED.labels(kind, "accepted").inc()
    created = await LedgerRepository(session).entry(row["id"])
    assert created is not None
    return created
