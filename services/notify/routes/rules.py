"""Event rules: which ticket, booking or benefit event sends which template to whom."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from kernel.db import DbSession
from kernel.errors import NotFound
from services.notify.repository import rules as repo
from services.notify.routes.common import Admin, Limit, Offset, Reader, RuleId
from services.notify.schemas.rules import RuleCreate, RulePage, RuleRead

router = APIRouter(prefix="/rules", tags=["event rules"])


@router.put("", response_model=RuleRead, summary="Create or replace an event rule (by name)")
async def put_rule(body: RuleCreate, session: DbSession, identity: Admin) -> RuleRead:
    """Create or replace (by `name`) an event rule: when an event of `subject` arrives (a ticket raised
    or resolved, a booking confirmed, a benefit paid), send `template_key` to the phone or person the
    event names, with variables taken from the event's fields and constants, keyed so a redelivered
    event never sends twice.

    **Who:** `notify:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `notify:admin`; 422 both or neither of `phone_field` and `person_field`, a
    subject that is not a tickets, marketplace or benefits event, a malformed field path.
    """
    return RuleRead.model_validate(await repo.upsert(session, body.model_dump()))


@router.get("", response_model=RulePage, summary="Event rules by name")
async def list_rules(session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0) -> RulePage:
    """Every event rule, by name.

    **Who:** `notify:read` (help desks, anganwadi workers, department officers, auditors).

    **Errors:** 422 `limit` or `offset` out of range.
    """
    rows, total = await repo.list_page(session, limit=limit, offset=offset)
    return RulePage(items=[RuleRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an event rule")
async def delete_rule(rule_id: RuleId, session: DbSession, identity: Admin) -> Response:
    """Delete an event rule: its events send nothing from now on (messages already queued stay).

    **Who:** `notify:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `notify:admin`; 404 no such rule.
    """
    if not await repo.remove(session, rule_id):
        raise NotFound("No such rule.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
