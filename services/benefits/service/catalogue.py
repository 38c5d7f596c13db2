"""The scheme catalogue: departments, schemes and their versioned rules."""

from __future__ import annotations

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.errors import Conflict, NotFound, ValidationProblem
from services.benefits.repository.catalogue import CatalogueRepository
from services.benefits.schemas.catalogue import DepartmentIn, RulesIn, SchemeIn


async def add_department(session: AsyncSession, identity: Identity, body: DepartmentIn
                         ) -> tuple[dict[str, object], bool]:
    repo = CatalogueRepository(session)
    values = {**body.model_dump(exclude={"posters"}), "created_by": identity.subject}
    row, created = await repo.upsert_department(values)
    if created:
        posters = await repo.set_posters(body.code, body.posters, identity.subject)
    else:
        posters = await repo.posters(body.code)
    return {**row, "posters": posters}, created


async def set_posters(session: AsyncSession, identity: Identity, code: str, posters: list[str]) -> dict[str, object]:
    repo = CatalogueRepository(session)
    row = await repo.department(code)
    if row is None:
        raise NotFound("No such department.")
    return {**row, "posters": await repo.set_posters(code, posters, identity.subject)}


async def add_scheme(session: AsyncSession, identity: Identity, body: SchemeIn) -> RowMapping:
    repo = CatalogueRepository(session)
    department = await repo.department(body.department_code)
    if department is None:
        raise ValidationProblem("No such department.", errors=[{"field": "department_code", "reason": "unknown"}])
    expected = "BDT" if department["country"] == "BD" else "INR"
    if body.currency is not None and body.currency != expected:
        raise ValidationProblem("The currency is the department's country's.",
                                errors=[{"field": "currency", "reason": f"{department['country']} pays in {expected}"}])
    if any(not code.startswith(department["country"]) for code in body.area_codes):
        raise ValidationProblem("A scheme runs in its department's country.",
                                errors=[{"field": "area_codes", "reason": f"must be within {department['country']}"}])
    values = body.model_dump(exclude={"rules"})
    created = await repo.add_scheme({**values, "current_version": 1, "created_by": identity.subject})
    if created is None:
        raise Conflict("A scheme with this code exists.", errors=[{"field": "code", "reason": "taken"}])
    await repo.add_rule_version(_rules_row(body.code, 1, body.rules, identity))
    found = await repo.scheme(body.code)
    assert found is not None
    return found


async def new_rule_version(session: AsyncSession, identity: Identity, code: str, body: RulesIn) -> RowMapping:
    """Add the next version of a scheme's rules; what was decided under earlier versions stays as it was."""
    repo = CatalogueRepository(session)
    scheme = await repo.lock_scheme(code)
    if scheme is None:
        raise NotFound("No such scheme.")
    version = scheme["current_version"] + 1
    await repo.add_rule_version(_rules_row(code, version, body, identity))
    await repo.set_current_version(code, version)
    found = await repo.rule_version(code, version)
    assert found is not None
    return found


def _rules_row(code: str, version: int, rules: RulesIn, identity: Identity) -> dict[str, object]:
    return {"scheme_code": code, "version": version, "eligibility": rules.eligibility,
            "exclusivity": rules.exclusivity.model_dump(), "policy": rules.policy.model_dump(), "note": rules.note,
            "created_by": identity.subject}
