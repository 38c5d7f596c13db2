"""Coverage: for a person or household, the schemes they are eligible for (current rules, facts from the
registry copy) and whether they receive them; for an area and scheme, eligible-but-not-covered counts and
the list for field staff.  "Receives" counts a live grant to any record of the same human."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.errors import NotFound, ValidationProblem
from services.benefits.repository.catalogue import CatalogueRepository
from services.benefits.repository.coverage import CoverageRepository
from services.benefits.repository.replica import ReplicaRepository
from services.benefits.rules.eligibility import Facts, age_on, evaluate, parse_rule
from services.benefits.rules.periods import InvalidPeriod, current_period, period_range
from services.benefits.schemas.coverage import AreaCoverage, HouseholdCoverage, PersonCoverage, SchemeCoverage
from services.benefits.service.common import audit


def facts_of(person: RowMapping, household: RowMapping | None, on: date) -> Facts:
    return Facts(age=age_on(person["birth_date"], person["birth_year"], on), sex=person["sex"],
                 disability=person["disability"], pregnant=person["pregnant"],
                 marital_status=person["marital_status"],
                 household_size=household["member_count"] if household else None,
                 income_band=household["income_band"] if household else None, area=person["area_code"])


def _span(scheme: RowMapping, period: str) -> tuple[date, date]:
    return period_range(scheme["frequency"], period, valid_from=scheme["valid_from"], valid_to=scheme["valid_to"])


async def _judge(session: AsyncSession, schemes: list[RowMapping], person: RowMapping, household: RowMapping | None,
                 members: list[uuid.UUID], on: date) -> list[SchemeCoverage]:
    periods = {s["code"]: current_period(s["frequency"], on) for s in schemes}
    grants = await CoverageRepository(session).covered_schemes(
        members, household["id"] if household else None, {s["code"]: _span(s, periods[s["code"]]) for s in schemes})
    facts = facts_of(person, household, on)
    out = []
    for s in schemes:
        verdict = evaluate(parse_rule(s["eligibility"]), facts)
        live = [g for g in grants.get(s["code"], []) if s["beneficiary"] == "person" or g["household_id"]]
        out.append(SchemeCoverage(scheme=s["code"], names=s["names"], beneficiary=s["beneficiary"],
                                  period=periods[s["code"]], rule_version=s["current_version"],
                                  eligible=verdict.eligible, unknown_facts=verdict.unknown, covered=bool(live),
                                  entries=[g["id"] for g in live]))
    return out


async def _visible_person(session: AsyncSession, identity: Identity, person_id: uuid.UUID) -> RowMapping:
    person = await ReplicaRepository(session).person(person_id)
    if person is None or person["version"] == 0 or not identity.can_access_area(person["area_code"]):
        raise NotFound("No such person in your area (in benefits' copy of the registry).")
    return person


async def person_coverage(session: AsyncSession, identity: Identity, person_id: uuid.UUID, on: date
                          ) -> PersonCoverage:
    replica = ReplicaRepository(session)
    person = await _visible_person(session, identity, person_id)
    household = await replica.household(person["household_id"]) if person["household_id"] else None
    members = sorted((await replica.cluster_members([person["cluster_id"]])).get(person["cluster_id"], {person_id}))
    schemes = [s for s in await CatalogueRepository(session).running_in(person["area_code"], on)
               if s["beneficiary"] == "person"]
    judged = await _judge(session, schemes, person, household, members, on)
    await audit(session, identity, "person", [person_id], action="coverage.read", purpose=None,
                details={"on": on.isoformat()})
    return PersonCoverage(person_id=person_id, area_code=person["area_code"], household_id=person["household_id"],
                          on=on, registry_as_of=await replica.last_event_at(), schemes=judged)


async def household_coverage(session: AsyncSession, identity: Identity, household_id: uuid.UUID, on: date
                             ) -> HouseholdCoverage:
    replica = ReplicaRepository(session)
    household = await replica.household(household_id)
    if household is None or not identity.can_access_area(household["area_code"]):
        raise NotFound("No such household in your area (in benefits' copy of the registry).")
    member_ids = await replica.household_members(household_id)
    members = [await person_coverage(session, identity, pid, on) for pid in member_ids]
    schemes = [s for s in await CatalogueRepository(session).running_in(household["area_code"], on)
               if s["beneficiary"] == "household"]
    head = await replica.person(household["head_person_id"]) if household["head_person_id"] else None
    judged = await _judge(session, schemes, head, household, [], on) if head is not None else []
    await audit(session, identity, "household", [household_id], action="coverage.read", purpose=None,
                details={"on": on.isoformat(), "members": len(member_ids)})
    return HouseholdCoverage(household_id=household_id, area_code=household["area_code"],
                             member_count=household["member_count"], on=on,
                             registry_as_of=await replica.last_event_at(), schemes=judged, members=members)


@dataclass
class AreaQuery:
    kwargs: dict[str, Any]
    scheme: RowMapping
    period: str


async def area_query(session: AsyncSession, identity: Identity, area: str, scheme_code: str, period: str | None,
                     on: date) -> AreaQuery:
    if not identity.can_access_area(area):
        raise NotFound("No such area in your scope.")
    scheme = await CatalogueRepository(session).scheme(scheme_code)
    if scheme is None:
        raise NotFound("No such scheme.")
    period = period or current_period(scheme["frequency"], on)
    try:
        start, end = _span(scheme, period)
    except InvalidPeriod as exc:
        raise ValidationProblem(exc.reason, errors=[{"field": "query.period", "reason": exc.reason}]) from exc
    kwargs = {"area": area, "scopes": list(identity.area_scope), "scheme_areas": list(scheme["area_codes"]),
              "rule": parse_rule(scheme["eligibility"]), "on": min(max(on, start), end), "scheme_code": scheme_code,
              "start": start, "end": end, "beneficiary": scheme["beneficiary"]}
    return AreaQuery(kwargs, scheme, period)


async def area_coverage(session: AsyncSession, identity: Identity, area: str, scheme_code: str, period: str | None,
                        on: date) -> AreaCoverage:
    query = await area_query(session, identity, area, scheme_code, period, on)
    counts = await CoverageRepository(session).counts(**query.kwargs)
    return AreaCoverage(area=area, scheme=scheme_code, period=query.period,
                        rule_version=query.scheme["current_version"], **counts,
                        registry_as_of=await ReplicaRepository(session).last_event_at(),
                        gaps=f"/benefits/coverage/gaps?area={area}&scheme={scheme_code}&period={query.period}")


async def audit_list(session: AsyncSession, identity: Identity, query: AreaQuery, *, listed: int, offset: int,
                     form: str) -> None:
    """A door-to-door list read (JSON page or CSV): one audit row for the call, naming the area, scheme,
    period and how many persons it showed (each person's own coverage read is audited per person)."""
    await audit(session, identity, "area", [query.kwargs["area"]], action=f"coverage.gaps.{form}", purpose=None,
                details={"scheme": query.kwargs["scheme_code"], "period": query.period, "persons": listed,
                         "offset": offset})
