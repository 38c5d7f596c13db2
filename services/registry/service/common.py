"""Helpers every registry service module uses: actor, history, read audit, output shaping."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.context import request_id_var
from kernel.errors import Conflict
from services.registry.repository.history import AuditRepository, HistoryRepository
from services.registry.rules.ages import age_on
from services.registry.rules.identifiers import mask
from services.registry.schemas.identifiers import IdentifierOut
from services.registry.schemas.persons import PersonOut, PersonSummary

# Fields whose values never go into history in clear.
SENSITIVE_FIELDS = frozenset({"phones"})


def actor(identity: Identity) -> str:
    return identity.subject


def region_of(area_code: str) -> str:
    return area_code.split("-", 1)[0]


def _json_safe(value: Any, field: str) -> Any:
    if field in SENSITIVE_FIELDS and isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, date | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_safe(v, "") for v in value]
    if value is not None and not isinstance(value, str | int | float | bool):
        return str(value)
    return value


def diff(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> dict[str, dict[str, Any]]:
    """Field -> {from, to} for every field of ``new`` whose value differs from ``old``."""
    out: dict[str, dict[str, Any]] = {}
    for field, value in new.items():
        before = old.get(field)
        if isinstance(before, list | tuple) and isinstance(value, list | tuple):
            same = list(before) == list(value)
        else:
            same = before == value
        if not same:
            out[field] = {"from": _json_safe(before, field), "to": _json_safe(value, field)}
    return out


async def record_history(
    session: AsyncSession,
    identity: Identity,
    record_type: str,
    record_id: uuid.UUID,
    *,
    action: str,
    version: int | None,
    changes: Mapping[Any, Any] | None = None,
    reason: str | None = None,
) -> None:
    await HistoryRepository(session).record(
        [
            {
                "record_type": record_type,
                "record_id": record_id,
                "version": version,
                "action": action,
                "changes": dict(changes or {}),
                "reason": reason,
                "changed_by": actor(identity),
                "request_id": request_id_var.get(),
            }
        ]
    )


async def audit(
    session: AsyncSession,
    identity: Identity,
    record_type: str,
    record_ids: Sequence[uuid.UUID],
    *,
    action: str,
    purpose: str | None,
    details: Mapping[Any, Any] | None = None,
) -> None:
    """One audit_event row per record read or decided on: who, when, what, why."""
    await AuditRepository(session).record(
        [
            {
                "actor": actor(identity),
                "action": action,
                "record_type": record_type,
                "record_id": str(rid),
                "purpose": purpose,
                "request_id": request_id_var.get(),
                "details": {"kind": identity.kind, "client_id": identity.client_id, **(details or {})},
            }
            for rid in record_ids
        ]
    )


@contextmanager
def integrity_as_conflict(message: str) -> Iterator[None]:
    """A constraint the database enforces (one head, one live ID of a type) becomes a 409."""
    try:
        yield
    except IntegrityError as exc:
        cause = getattr(exc.orig, "__cause__", None)
        if getattr(cause, "sqlstate", None) != "23505":  # only unique violations are the caller's conflict
            raise
        raise Conflict(message, constraint=getattr(cause, "constraint_name", None)) from exc


def age_of(row: Mapping[Any, Any], today: date | None = None) -> int | None:
    birth = row.get("birth_date")
    return age_on(birth, today or date.today()) if birth else None


def identifier_out(row: Mapping[Any, Any]) -> IdentifierOut:
    return IdentifierOut(
        id=row["id"],
        type=row["id_type"],
        masked=mask(row["last4"]),
        form=row["form"],
        verification_method=row["verification_method"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        end_reason=row["end_reason"],
    )


def group_identifiers(rows: Sequence[Mapping[Any, Any]]) -> dict[uuid.UUID, list[IdentifierOut]]:
    out: dict[uuid.UUID, list[IdentifierOut]] = {}
    for row in rows:
        out.setdefault(row["person_id"], []).append(identifier_out(row))
    return out


def person_summary(row: Mapping[Any, Any], identifiers: list[IdentifierOut]) -> PersonSummary:
    return PersonSummary.model_validate(
        {
            **row,
            "household_id": row.get("household_id"),
            "role": row.get("role"),
            "age": age_of(row),
            "age_estimated": bool(row["birth_date_estimated"]),
            "phones_masked": [mask(p) for p in row["phones"]],
            "identifiers": identifiers,
        }
    )


def person_out(row: Mapping[Any, Any], identifiers: list[IdentifierOut]) -> PersonOut:
    return PersonOut.model_validate(
        {
            **row,
            "household_id": row.get("household_id"),
            "role": row.get("role"),
            "age": age_of(row),
            "phones": list(row["phones"]),
            "identifiers": identifiers,
        }
    )


def common_area(a: str, b: str) -> str:
    """The closest area containing both codes (the country at least)."""
    pa, pb = a.split("-"), b.split("-")
    shared = []
    for x, y in zip(pa, pb, strict=False):
        if x != y:
            break
        shared.append(x)
    return "-".join(shared) or pa[0]
