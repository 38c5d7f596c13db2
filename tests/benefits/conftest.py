"""Benefits test helpers: the service, a catalogue, and the registry's events applied to the local copy."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Envelope, Event
from contracts.registry import HouseholdCreated, PersonRegistered
from kernel.db import make_engine, make_sessionmaker, transaction
from kernel.identifiers import keyed_lookup_hash, parse_identifier
from kernel.scheduler import ManualClock
from kernel.settings import Settings
from services.benefits.events import HOUSEHOLD_HANDLERS, PERSON_HANDLERS
from services.benefits.settings import get_benefits_settings
from tests.conftest import identity_headers, start_service

WARD = "BD-40-87-90-54-08"
OTHER_WARD = "BD-40-87-90-54-07"
UPAZILA = "BD-40-87-90"
# The service runs on a manual clock pinned here (every "today" and "now" in the service reads it).
START = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)
TODAY = START.date()
THIS_MONTH = TODAY.strftime("%Y-%m")


def admin() -> dict[str, str]:
    return identity_headers(subject="benefits-admin", scopes=["benefits:*"], area_scope=["BD", "IN"])


def department_client(dept: str = "BD-DSS", area: str = "BD") -> dict[str, str]:
    # roles: identity_headers would otherwise make the caller an admin; a client with no role at all.
    return identity_headers(subject=f"client-{dept}", kind="client", roles=["none"],
                            scopes=["benefits:read", "benefits:write", "benefits:post"], area_scope=[area])


def reviewer(area: str = UPAZILA) -> dict[str, str]:
    return identity_headers(subject="uno-1", roles=["department_officer"], scopes=[], area_scope=[area])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def benefits(clean: None, settings: Settings, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    from services.benefits.app import create_app

    async for client in start_service(create_app, settings, clock=clock):
        yield client


@pytest.fixture
async def session_factory(database_url: str) -> AsyncIterator[Any]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def apply(session_factory: Any, *events: Event, at: datetime = START) -> None:
    """Apply registry events to benefits' copy through its own handlers, as its consumers do; ``at``: when
    they happened in the registry."""
    async with transaction(session_factory) as session:
        for event in events:
            await handle(session, event, at)


async def handle(session: AsyncSession, event: Event, at: datetime = START) -> None:
    # By default the event happened at the service clock's start (jobs it schedules are due then).
    envelope = Envelope(type=event.subject, source="registry", data=event.model_dump(mode="json"), occurred_at=at)
    handler = {**PERSON_HANDLERS, **HOUSEHOLD_HANDLERS}[event.subject]
    await handler(session, event, envelope)


def id_hash(id_type: str, value: str) -> str:
    parsed = parse_identifier(id_type, value, region="BD")
    return keyed_lookup_hash(get_benefits_settings().id_hmac_key, id_type, parsed.match_key)


def person_event(*, area: str = WARD, sex: str = "female", birth_year: int = 1950, household_id: uuid.UUID | None = None,
                 nid: str | None = None, version: int = 1, **extra: Any) -> PersonRegistered:
    return PersonRegistered(
        person_id=extra.pop("person_id", uuid.uuid4()), household_id=household_id, area_code=area,
        full_name=extra.pop("full_name", "Rahima Begum"), sex=sex, birth_date=extra.pop("birth_date", None),
        birth_date_estimated=False, birth_year=birth_year, disability=extra.pop("disability", None),
        pregnant=extra.pop("pregnant", False), marital_status=extra.pop("marital_status", None), phones=[],
        preferred_language="bn", status="active",
        identifier_types=["bd_nid"] if nid else [], identifier_hashes=[id_hash("bd_nid", nid)] if nid else [],
        version=version,
    )


def household_event(members: list[uuid.UUID], *, area: str = WARD, hid: uuid.UUID | None = None,
                    income_band: str | None = None) -> HouseholdCreated:
    return HouseholdCreated(household_id=hid or uuid.uuid4(), area_code=area, status="active",
                            survey_status="approved", income_band=income_band,
                            head_person_id=members[0] if members else None, member_ids=members, version=1)


OAA = {
    "code": "BD-OAA", "department_code": "BD-DSS", "names": {"en": "Old Age Allowance", "bn": "বয়স্ক ভাতা"},
    "kind": "cash", "beneficiary": "person", "amount_minor": 60000, "currency": "BDT", "frequency": "monthly",
    "area_codes": ["BD"], "valid_from": "2020-01-01",
    "rules": {"eligibility": {"all": [{"attr": "age", "op": "ge", "value": 65}]},
              "exclusivity": {"per_person": True, "not_with": ["BD-WIDOW"]},
              "policy": {"on_conflict": "hold", "unknown_person": "hold"}},
}
WIDOW = {
    "code": "BD-WIDOW", "department_code": "BD-DSS", "names": {"en": "Widow Allowance", "bn": "বিধবা ভাতা"},
    "kind": "cash", "beneficiary": "person", "amount_minor": 55000, "currency": "BDT", "frequency": "monthly",
    "area_codes": ["BD"], "valid_from": "2020-01-01",
    "rules": {"eligibility": {"all": [{"attr": "sex", "op": "eq", "value": "female"},
                                      {"attr": "marital_status", "op": "eq", "value": "widowed"}]},
              "exclusivity": {"per_person": True}, "policy": {"on_conflict": "reject", "unknown_person": "reject"}},
}
VGF = {
    "code": "BD-VGF", "department_code": "BD-DRR", "names": {"en": "Vulnerable Group Feeding", "bn": "ভিজিএফ"},
    "kind": "kind", "beneficiary": "household", "quantity": 30, "unit": "kg", "frequency": "monthly",
    "area_codes": [UPAZILA], "valid_from": "2020-01-01",
    "rules": {"eligibility": {"all": []}, "exclusivity": {"per_person": True, "per_household": True},
              "policy": {"on_conflict": "hold", "unknown_person": "reject"}},
}


@pytest.fixture
async def served(clean: None, settings: Settings, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    """The service behind a real uvicorn server (concurrent requests, each with its own session)."""
    from services.benefits.app import create_app
    from tests.gateway.conftest import Served

    async with Served(create_app(settings, clock=clock)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            yield client


@pytest.fixture
async def catalogue(benefits: httpx.AsyncClient) -> httpx.AsyncClient:
    return await add_catalogue(benefits)


async def add_catalogue(benefits: httpx.AsyncClient) -> httpx.AsyncClient:
    for dept, name in (("BD-DSS", "Department of Social Services"), ("BD-DRR", "Disaster Management")):
        r = await benefits.post("/departments", json={"code": dept, "country": "BD", "names": {"en": name},
                                                      "posters": [f"client-{dept}"]}, headers=admin())
        assert r.status_code == 201, r.text
    for scheme in (OAA, WIDOW, VGF):
        r = await benefits.post("/schemes", json=scheme, headers=admin())
        assert r.status_code == 201, r.text
    return benefits


def grant(scheme: str = "BD-OAA", *, ref: str | None = None, period: str = THIS_MONTH, **subject: Any
          ) -> dict[str, Any]:
    body: dict[str, Any] = {"scheme": scheme, "period": period, "delivered_on": TODAY.isoformat(),
                            "channel": "mobile_money", "department_ref": ref or f"REF-{uuid.uuid4().hex[:12]}"}
    if scheme == "BD-VGF":
        body["quantity"] = 30
    else:
        body |= {"amount_minor": 60000, "currency": "BDT"}
    for key, value in subject.items():
        body[key] = str(value) if isinstance(value, uuid.UUID) else value
    return body
