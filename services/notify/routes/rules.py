"""Event rules: which ticket, booking or benefit event sends which template to whom."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from kernel.db import DbSession
from kernel.errors import NotFound
from services.notify.repository import rules as repo
from services.notify.routes.common import Admin, Limit, Offset, Reader
from services.notify.schemas.rules import RuleCreate, RulePage, RuleRead

router = APIRouter(prefix="/rules", tags=["event rules"])


@router.put("", response_model=RuleRead, summary="Create or replace an event rule (by name)")
async def put_rule(body: RuleCreate, session: DbSession, identity: Admin) -> RuleRead:
    return RuleRead.model_validate(await repo.upsert(session, body.model_dump()))


@router.get("", response_model=RulePage, summary="Event rules by name")
async def list_rules(session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0) -> RulePage:
    rows, total = await repo.list_page(session, limit=limit, offset=offset)
    return RulePage(items=[RuleRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an event rule")
async def delete_rule(rule_id: uuid.UUID, session: DbSession, identity: Admin) -> Response:
    if not await repo.remove(session, rule_id):
        raise NotFound("No such rule.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
