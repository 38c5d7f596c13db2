"""Build registry events from rows and put them in the outbox (same transaction as the change)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Event
from contracts.registry import HouseholdCreated, HouseholdUpdated, PersonRegistered, PersonUpdated
from kernel.outbox import add_event, add_events_asyncpg
from kernel.queries import raw_connection
from services.registry import SERVICE
from services.registry.repository.households import HouseholdRepository, MembershipRepository
from services.registry.repository.persons import IdentifierRepository


async def publish(session: AsyncSession, event: Event) -> None:
    await add_event(session, SERVICE, event, source=SERVICE)


async def publish_many(session: AsyncSession, events: Sequence[Event]) -> None:
    """Many events in one statement (a bulk path: thousands of pairs an import's matcher queued)."""
    if events:
        await add_events_asyncpg(await raw_connection(session), SERVICE, events, source=SERVICE)


async def _person_payload(session: AsyncSession, row: Mapping[Any, Any]) -> dict[str, Any]:
    ids = await IdentifierRepository(session).for_persons([row["id"]])
    member = await MembershipRepository(session).live_for_person(row["id"])
    return {
        "person_id": row["id"],
        "household_id": member["household_id"] if member else None,
        "area_code": row["area_code"],
        "full_name": row["full_name"],
        "sex": row["sex"],
        "birth_date": row["birth_date"],
        "birth_date_estimated": row["birth_date_estimated"],
        "birth_year": row["birth_year"],
        "disability": row["disability"],
        "pregnant": row["pregnant"],
        "marital_status": row["marital_status"],
        "phones": list(row["phones"]),
        "preferred_language": row["preferred_language"],
        "status": row["status"],
        "identifier_types": sorted({i["id_type"] for i in ids}),
        "identifier_hashes": sorted(i["lookup_hash"] for i in ids),
        "version": row["version"],
    }


async def person_registered(session: AsyncSession, row: Mapping[Any, Any]) -> None:
    await publish(session, PersonRegistered(**await _person_payload(session, row)))


async def person_updated(session: AsyncSession, row: Mapping[Any, Any], changed: Sequence[str]) -> None:
    await publish(session, PersonUpdated(**await _person_payload(session, row), changed_fields=sorted(changed)))


async def _household_payload(session: AsyncSession, row: Mapping[Any, Any]) -> dict[str, Any]:
    members = await HouseholdRepository(session).members(row["id"])
    head: uuid.UUID | None = next((m["id"] for m in members if m["role"] == "head"), None)
    return {
        "household_id": row["id"],
        "area_code": row["area_code"],
        "status": row["status"],
        "survey_status": row["survey_status"],
        "income_band": row["income_band"],
        "head_person_id": head,
        "member_ids": [m["id"] for m in members],
        "version": row["version"],
    }


async def household_created(session: AsyncSession, row: Mapping[Any, Any]) -> None:
    await publish(session, HouseholdCreated(**await _household_payload(session, row)))


async def household_updated(session: AsyncSession, row: Mapping[Any, Any], changed: Sequence[str]) -> None:
    await publish(session, HouseholdUpdated(**await _household_payload(session, row), changed_fields=sorted(changed)))
