"""Person routes: reads are audited and need a purpose; identifiers come back masked."""

from __future__ import annotations

import uuid
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel

from kernel.db import DbSession
from services.registry.routes.common import (
    AreaQuery,
    HistoryLimit,
    Limit,
    Offset,
    PersonId,
    Purpose,
    Reader,
    Writer,
)
from services.registry.schemas.identifiers import IdentifierEnd, IdentifierIn, LookupRequest
from services.registry.schemas.persons import DeathReport, HistoryPage, PersonOut, PersonPage, PersonUpdate
from services.registry.schemas.queries import AgeCheckOut, AgeCheckRequest
from services.registry.service import lookup as lookup_service
from services.registry.service import persons, queries

router = APIRouter(prefix="/persons", tags=["persons"])


class LookupResult(BaseModel):
    items: list[PersonOut]


IdentifierId = Annotated[uuid.UUID, Path(description="The identifier's id (`identifiers[].id` of the person)")]


async def _pool(request: Request) -> asyncpg.Pool:
    return await request.app.state.runtime.statement_pool()  # type: ignore[no-any-return]


@router.post("/lookup", response_model=LookupResult,
             summary="Find a person by any identifier (sent in the body, never in the URL)")
async def lookup(
    body: LookupRequest, identity: Reader, purpose: Purpose, pool: Annotated[asyncpg.Pool, Depends(_pool)]
) -> Response:
    """Every person in your area scope who holds this identifier (Aadhaar, Bangladesh NID in any of its
    10/13/17-digit forms, BRN, ration card, voter id, phone), with identifiers masked. The value goes
    in the body so it never reaches an access log; it is matched by a keyed hash, never stored in
    clear. Usually one item; more means a possible duplicate. Audited with your purpose.

    **Who:** `registry:read` (every operator role that reads the registry, clients given it; the
    gateway admits this POST on `registry:read`, as a read); send `X-Purpose`.

    **Errors:** 404 nobody in your scope holds it; 422 a malformed identifier (bad check digit,
    length, birth year) or no `X-Purpose`.
    """
    # The hot path (issue #3): one audited statement on the statement pool, JSON written directly;
    # response_model still documents the body.
    return Response(await lookup_service.lookup(pool, identity, body, purpose), media_type="application/json")


@router.get("/search", response_model=PersonPage,
            summary="Search by name within an area, in Bengali, Devanagari or Latin spelling")
async def search(
    session: DbSession, identity: Reader, purpose: Purpose, area: AreaQuery,
    name: Annotated[str, Query(min_length=1, max_length=200, examples=["রহিম"],
                               description="Any part of the name, in Bengali, Devanagari or Latin letters")],
    limit: Limit = 50, offset: Offset = 0,
) -> PersonPage:
    """Persons in `area` (and below) whose names sound like `name`, whatever the script: "Rahim",
    "রহিম" and "रहीम" find each other (phonetic keys of each word). Summaries only: masked
    identifiers and phones. Audited with your purpose.

    **Who:** `registry:read`, for an area in your scope; send `X-Purpose`.

    **Errors:** 404 the area is outside your scope; 422 a name with no searchable letters, or no
    `X-Purpose`.
    """
    items, total = await queries.search(session, identity, area.upper(), name, purpose, limit=limit, offset=offset)
    return PersonPage(items=items, total=total, limit=limit, offset=offset)


@router.post("/age-check", response_model=AgeCheckOut,
             summary="Is this person of legal marriage age? yes / no / unknown, with the evidence only")
async def age_check(body: AgeCheckRequest, session: DbSession, identity: Reader, purpose: Purpose) -> AgeCheckOut:
    """For a marriage registrar or a child-marriage check: is the person (named by an identifier or a
    `person_id`) at least the legal marriage age for their sex today? The answer is yes / no /
    unknown with the evidence it rests on (e.g. "birth date from birth certificate"), never the name
    or the date of birth. Records that disagree answer unknown. Audited with your purpose.

    **Who:** `registry:read` (every operator role that reads the registry, clients given it; the
    gateway admits this POST on `registry:read`, as a read); send `X-Purpose`.

    **Errors:** 404 nobody in your scope holds the identifier; 422 both or neither of `identifier`
    and `person_id`, a malformed identifier, or no `X-Purpose`.
    """
    return await queries.age_check(session, identity, body, purpose)


@router.get("/{person_id}", response_model=PersonOut, summary="A person's record (audited read)")
async def get_person(person_id: PersonId, session: DbSession, identity: Reader, purpose: Purpose) -> PersonOut:
    """The full record: names, sex, birth date and its source, age, parents' and spouse's names,
    disability, pregnancy, occupation, phones, household and role, status (active, deceased, merged),
    and identifiers (masked; ended ones too). Audited with your purpose.

    **Who:** `registry:read`; send `X-Purpose`.

    **Errors:** 404 no such person in your area scope; 422 no `X-Purpose`.
    """
    return await persons.read(session, identity, person_id, purpose)


@router.patch("/{person_id}", response_model=PersonOut, summary="Edit a person (optimistic: send base_version)")
async def update_person(person_id: PersonId, body: PersonUpdate, session: DbSession, identity: Writer) -> PersonOut:
    """Correct a person's details. Send the `version` you read as `base_version`; only the fields sent
    change. The household goes back to `collected` for review; publishes `registry.person.updated.v1`.

    **Who:** `registry:write`, for the person's area.

    **Errors:** 404 no such person in your scope; 409 `base_version` is stale (with `current_version`),
    or the record was merged into another (edit that one: `merged_into`); 422 a birth date that
    contradicts an identifier's birth year, `pregnant` for someone not female.
    """
    row = await persons.update(session, identity, person_id, body)
    return await persons.to_out(session, await persons.get_row(session, identity, row["id"]))


@router.post("/{person_id}/identifiers", status_code=status.HTTP_201_CREATED, response_model=PersonOut,
             summary="Add an identifier (validated; one live identifier of a type per person)")
async def add_identifier(person_id: PersonId, body: IdentifierIn, session: DbSession, identity: Writer) -> PersonOut:
    """Attach an identifier, checked for its type (Aadhaar's Verhoeff digit, NID/BRN length and birth
    year) and stored encrypted with a keyed lookup hash; only its last four digits come back. Sending
    the same identifier again changes nothing. Another person holding it is flagged as a possible
    duplicate.

    **Who:** `registry:write`, for the person's area.

    **Errors:** 404 no such person in your scope; 409 the person already has a live identifier of
    this type (end it first), a 17-digit NID that conflicts with another form, or a merged record;
    422 a malformed identifier.
    """
    await persons.add_identifier(session, identity, person_id, body)
    return await persons.to_out(session, await persons.get_row(session, identity, person_id))


@router.post("/{person_id}/identifiers/{identifier_id}/end", response_model=PersonOut,
             summary="End an identifier (kept in history)")
async def end_identifier(
    person_id: PersonId, identifier_id: IdentifierId, body: IdentifierEnd, session: DbSession, identity: Writer
) -> PersonOut:
    """Mark an identifier ended (wrongly recorded, replaced, cancelled) with a reason. It stays on the
    record and in the history, with `ended_at` and `end_reason`, and no longer matches a lookup.

    **Who:** `registry:write`, for the person's area.

    **Errors:** 404 no such person in your scope, or no such identifier on this person; 409 it has
    already ended, or the record was merged; 422 a reason under 3 characters.
    """
    await persons.end_identifier(session, identity, person_id, identifier_id, body.reason)
    return await persons.to_out(session, await persons.get_row(session, identity, person_id))


@router.post("/{person_id}/deceased", response_model=PersonOut, summary="Record a death")
async def report_death(person_id: PersonId, body: DeathReport, session: DbSession, identity: Writer) -> PersonOut:
    """Record that the person died on `deceased_on`: status `deceased`, published as
    `registry.person.deceased.v1`, which the benefits and notify services follow. Their household
    membership is ended too.

    **Who:** `registry:write`, for the person's area.

    **Errors:** 404 no such person in your scope; 409 already recorded as deceased, a stale
    `base_version`, or a merged record; 422 a date in the future or before the birth date.
    """
    await persons.mark_deceased(session, identity, person_id, body.deceased_on, body.base_version)
    return await persons.to_out(session, await persons.get_row(session, identity, person_id))


@router.get("/{person_id}/history", response_model=HistoryPage,
            summary="Every change to the person (and to records merged into it)")
async def person_history(
    person_id: PersonId, session: DbSession, identity: Reader, purpose: Purpose,
    limit: HistoryLimit = 200,
) -> HistoryPage:
    """Every change to the person, newest first, including those of records merged into it:
    creation (or its bulk-import row), field edits with old and new values, identifiers added and
    ended, memberships, death, merges, with who and when. Audited with your purpose.

    **Who:** `registry:read`; send `X-Purpose`.

    **Errors:** 404 no such person in your scope; 422 no `X-Purpose`.
    """
    return HistoryPage(items=await persons.history(session, identity, person_id, purpose, limit=limit))
