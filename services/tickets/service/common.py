"""What every tickets service module uses: who acts, what they may see, timeline entries, output shape."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.errors import NotFound
from kernel.roles import require
from services.tickets.repository.tickets import TicketRepository, TimelineRepository
from services.tickets.rules.access import WORK, agent_sees, is_agent
from services.tickets.rules.states import allowed_actions
from services.tickets.settings import get_tickets_settings

SYSTEM = "system"


def actor_kind(identity: Identity | None) -> str:
    if identity is None:
        return "system"
    return "agent" if is_agent(identity) else "reporter"


def can_see(identity: Identity, ticket: Mapping[Any, Any]) -> bool:
    """Agents: the ticket's current desk lies in their area.  Reporters: they raised it."""
    if is_agent(identity):
        return agent_sees(identity, ticket["desk_area_code"])
    return bool(ticket["raised_by"] == identity.subject)


def require_agent(identity: Identity, what: str) -> None:
    require(identity, WORK, doing=what)


async def visible_ticket(session: AsyncSession, identity: Identity, ticket_id: uuid.UUID,
                         *, lock: bool = False) -> Mapping[Any, Any]:
    """The ticket if the caller may see it; otherwise 404, so nobody can probe what exists elsewhere."""
    row = await TicketRepository(session).get(ticket_id, lock=lock)
    if row is None or not can_see(identity, row):
        raise NotFound("No such ticket for you.")
    return row


async def record(
    session: AsyncSession, ticket: Mapping[Any, Any], *, at: datetime, actor: str, kind: str, public: bool,
    actor_role: str, body: str | None = None, from_status: str | None = None, to_status: str | None = None,
    data: Mapping[Any, Any] | None = None, desk_id: uuid.UUID | None = None, also_desk: uuid.UUID | None = None,
) -> int:
    """Append one timeline entry (who, what, when) for the ticket at its current desk."""
    return await TimelineRepository(session).append({
        "ticket_id": ticket["id"], "desk_id": desk_id or ticket["desk_id"], "at": at, "actor": actor,
        "actor_kind": actor_role, "kind": kind, "public": public, "from_status": from_status,
        "to_status": to_status, "level": ticket["level"], "body": body, "data": dict(data or {}),
    }, also_desk=also_desk)


def mask_phone(phone: str | None) -> str | None:
    return None if not phone else "•" * max(len(phone) - 3, 0) + phone[-3:]


def status_page_path(tracking_number: str) -> str:
    return f"{get_tickets_settings().public_base_path}/track/{tracking_number}"


def ticket_out(row: Mapping[Any, Any]) -> dict[str, Any]:
    reporter = dict(row["reporter"])
    reporter["phone"] = mask_phone(reporter.get("phone"))
    out = {k: row[k] for k in (
        "id", "tracking_number", "status", "category", "priority", "title", "description", "language", "area_code",
        "desk_id", "level", "level_seq", "assigned_to", "raised_by", "channel", "concerns_person_id",
        "concerns_facility", "attachments", "rating", "created_at", "updated_at", "first_response_at",
        "resolved_at", "closed_at", "version")}
    out["reporter"] = reporter
    out["allowed_actions"] = [a.value for a in allowed_actions(row["status"])]
    out["status_page"] = status_page_path(row["tracking_number"])
    return out
