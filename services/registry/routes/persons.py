"""Person routes: reads are audited and need a purpose; identifiers come back masked."""

from __future__ import annotations

import uuid
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel

from kernel.db import DbSession
from services.registry.routes.common import AreaQuery, Limit, Offset, Purpose, Reader, Writer
from services.registry.schemas.identifiers import IdentifierEnd, IdentifierIn, LookupRequest
from services.registry.schemas.persons import DeathReport, HistoryPage, PersonOut, PersonPage, PersonUpdate
from services.registry.schemas.queries import AgeCheckOut, AgeCheckRequest
from services.registry.service import lookup as lookup_service
from services.registry.service import persons, queries

router = APIRouter(prefix="/persons", tags=["persons"])


class LookupResult(BaseModel):
    items: list[PersonOut]


async def _pool(request: Request) -> asyncpg.Pool:
    return await request.app.state.runtime.statement_pool()  # type: ignore[no-any-return]


@router.post("/lookup", response_model=LookupResult,
             summary="Find a person by any identifier (sent in the body, never in the URL)")
async def lookup(
    body: LookupRequest, identity: Reader, purpose: Purpose, pool: Annotated[asyncpg.Pool, Depends(_pool)]
) -> Response:
    # The hot path (issue #3): one audited statement on the statement pool, JSON written directly;
    # response_model still documents the body.
    return Response(await lookup_service.lookup(pool, identity, body, purpose), media_type="application/json")


@router.get("/search", response_model=PersonPage,
            summary="Search by name within an area, in Bengali, Devanagari or Latin spelling")
async def search(
    session: DbSession, identity: Reader, purpose: Purpose, area: AreaQuery,
    name: Annotated[str, Query(min_length=1, max_length=200)], limit: Limit = 50, offset: Offset = 0,
) -> PersonPage:
    items, total = await queries.search(session, identity, area.upper(), name, purpose, limit=limit, offset=offset)
    return PersonPage(items=items, total=total, limit=limit, offset=offset)


@router.post("/age-check", response_model=AgeCheckOut,
             summary="Is this person of legal marriage age? yes / no / unknown, with the evidence only")
async def age_check(body: AgeCheckRequest, session: DbSession, identity: Reader, purpose: Purpose) -> AgeCheckOut:
    return await queries.age_check(session, identity, body, purpose)


@router.get("/{person_id}", response_model=PersonOut, summary="A person's record (audited read)")
async def get_person(person_id: uuid.UUID, session: DbSession, identity: Reader, purpose: Purpose) -> PersonOut:
    return await persons.read(session, identity, person_id, purpose)


@router.patch("/{person_id}", response_model=PersonOut, summary="Edit a person (optimistic: send base_version)")
async def update_person(person_id: uuid.UUID, body: PersonUpdate, session: DbSession, identity: Writer) -> PersonOut:
    row = await persons.update(session, identity, person_id, body)
    return await persons.to_out(session, await persons.get_row(session, identity, row["id"]))


@router.post("/{person_id}/identifiers", status_code=status.HTTP_201_CREATED, response_model=PersonOut,
             summary="Add an identifier (validated; one live identifier of a type per person)")
async def add_identifier(person_id: uuid.UUID, body: IdentifierIn, session: DbSession, identity: Writer) -> PersonOut:
    await persons.add_identifier(session, identity, person_id, body)
    return await persons.to_out(session, await persons.get_row(session, identity, person_id))


@router.post("/{person_id}/identifiers/{identifier_id}/end", response_model=PersonOut,
             summary="End an identifier (kept in history)")
async def end_identifier(
    person_id: uuid.UUID, identifier_id: uuid.UUID, body: IdentifierEnd, session: DbSession, identity: Writer
) -> PersonOut:
    await persons.end_identifier(session, identity, person_id, identifier_id, body.reason)
    return await persons.to_out(session, await persons.get_row(session, identity, person_id))


@router.post("/{person_id}/deceased", response_model=PersonOut, summary="Record a death")
async def report_death(person_id: uuid.UUID, body: DeathReport, session: DbSession, identity: Writer) -> PersonOut:
    await persons.mark_deceased(session, identity, person_id, body.deceased_on, body.base_version)
    return await persons.to_out(session, await persons.get_row(session, identity, person_id))


@router.get("/{person_id}/history", response_model=HistoryPage,
            summary="Every change to the person (and to records merged into it)")
async def person_history(
    person_id: uuid.UUID, session: DbSession, identity: Reader, purpose: Purpose,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> HistoryPage:
    return HistoryPage(items=await persons.history(session, identity, person_id, purpose, limit=limit))
