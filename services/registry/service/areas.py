"""Registry business rules.  No commits here: the request (or job) commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.registry import AreaCreated, AreaUpdated
from kernel.areas import ancestor_codes, is_within_any, parse_area_code
from kernel.auth import Identity
from kernel.errors import Conflict, Forbidden, NotFound, ValidationProblem
from kernel.outbox import add_event
from services.registry import SERVICE
from services.registry.models import Area
from services.registry.repository import AreaRepository
from services.registry.schemas import AreaCreate, AreaUpdate


def _area_event(area: Area, cls: type[AreaCreated] | type[AreaUpdated]) -> AreaCreated | AreaUpdated:
    return cls(
        code=area.code,
        parent_code=area.parent_code,
        level=area.level,
        name=area.name,
        name_local=area.name_local,
        version=area.version,
    )


async def create_area(session: AsyncSession, identity: Identity, body: AreaCreate) -> Area:
    code = parse_area_code(body.code)
    parent = code.parent
    # An operator may add areas beneath their own scope; a national admin has the country in scope.
    scope_anchor = parent.value if parent else code.value
    if not is_within_any(scope_anchor, identity.area_scope):
        raise Forbidden(f"Area {code} is outside your area scope.")
    repo = AreaRepository(session)
    if await repo.get(code.value) is not None:
        raise Conflict(f"Area {code} already exists.")
    if parent is not None and parent.depth > 0 and await repo.get(parent.value) is None:
        raise ValidationProblem(
            f"Parent area {parent} does not exist; create it first.",
            errors=[{"field": "code", "reason": f"parent {parent} not found"}],
        )
    if parent is not None and parent.depth == 0 and await repo.get(parent.value) is None:
        # Countries are implicit roots; materialise them so every area has a parent row.  Two first
        # areas of a country created at once both get here: the one that inserts it announces it.
        country = await repo.add_if_absent(Area(code=parent.value, parent_code=None, level="country",
                                                name=parent.value))
        if country is not None:
            await add_event(session, SERVICE, _area_event(country, AreaCreated), source=SERVICE)
    return await _insert_area(
        session,
        Area(
            code=code.value,
            parent_code=parent.value if parent else None,
            level=code.level,
            name=body.name,
            name_local=body.name_local,
        ),
    )


async def _insert_area(session: AsyncSession, area: Area) -> Area:
    area = await AreaRepository(session).add(area)
    await add_event(session, SERVICE, _area_event(area, AreaCreated), source=SERVICE)
    return area


async def update_area(session: AsyncSession, identity: Identity, code: str, body: AreaUpdate) -> Area:
    area = await get_area(session, identity, code)
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        return area
    if "name" in changes and changes["name"] is None:
        raise ValidationProblem("name cannot be null", errors=[{"field": "body.name", "reason": "null"}])
    for field, value in changes.items():
        setattr(area, field, value)
    area.version += 1
    await AreaRepository(session).add(area)
    await add_event(session, SERVICE, _area_event(area, AreaUpdated), source=SERVICE)
    return area


async def get_area(session: AsyncSession, identity: Identity, code: str) -> Area:
    area = await AreaRepository(session).get(code.upper())
    if area is None:
        raise NotFound(f"No area {code}.")
    # Ancestors of one's own scope are visible (to navigate); other subtrees are not.
    if not (is_within_any(area.code, identity.area_scope) or area.code in ancestor_codes(identity.area_scope)):
        raise NotFound(f"No area {code}.")
    return area


async def list_children(
    session: AsyncSession, identity: Identity, parent_code: str | None, *, limit: int, offset: int
) -> tuple[list[Area], int]:
    repo = AreaRepository(session)
    if parent_code is None:
        return await repo.in_scope(identity.area_scope, limit=limit, offset=offset)
    await get_area(session, identity, parent_code)
    return await repo.children(parent_code.upper(), identity.area_scope, limit=limit, offset=offset)
