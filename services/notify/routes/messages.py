"""Sending and reading messages."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.engine import RowMapping

from kernel.db import DbSession
from kernel.errors import NotFound
from services.notify.repository import messages as repo
from services.notify.routes.common import Limit, MessageId, Now, Offset, Reader, Sender, TemplateKeyQuery
from services.notify.schemas import MessageEventRead, MessagePage, MessageRead, SendRequest
from services.notify.service.common import mask_phone, require_area
from services.notify.service.sending import Outgoing, enqueue

router = APIRouter(prefix="/messages", tags=["messages"])


def message_read(row: RowMapping) -> MessageRead:
    return MessageRead.model_validate({**row, "to_masked": mask_phone(row["to_phone"])})


@router.post("", status_code=status.HTTP_201_CREATED, response_model=MessageRead,
             responses={200: {"description": "This idempotency key was used before: the message it queued"}},
             summary="Queue an SMS or voice alert from a template (idempotent by key)")
async def send(body: SendRequest, session: DbSession, identity: Sender, now: Now, response: Response) -> MessageRead:
    """Queue an SMS (or a voice call) from a template, to a phone (`to` with its `area_code`) or a
    registry person (their phone and preferred language). The text is rendered in the recipient's
    language and checked against its DLT registration; quiet hours (21:00-08:00 local) delay it
    unless `urgent`; it is dropped as expired rather than sent late after `valid_for_minutes`. An SMS
    that fails becomes a voice call once. The same `idempotency_key` again answers 200 with the first
    message: retries never send twice. Opted-out phones are never sent to.

    **Who:** `notify:send` (help desks, department officers, or a client given it), for an area in your
    scope.

    **Errors:** 403 without `notify:send`; 404 the area or person is outside your scope; 422 both or
    neither of `to` and `person_id`, `to` without `area_code`, no template in the language, a
    variable missing or too long for its DLT slot.
    """
    if body.area_code:
        require_area(identity, body.area_code)
    out = Outgoing(
        idempotency_key=body.idempotency_key, template_key=body.template_key, source="api",
        variables=dict(body.variables), to=body.to, person_id=body.person_id, area_code=body.area_code,
        language=body.language, channel=body.channel, urgent=body.urgent,
        valid_until=now + timedelta(minutes=body.valid_for_minutes) if body.valid_for_minutes else None,
    )
    row, created = await enqueue(session, out, now)
    require_area(identity, row["area_code"])
    if not created:
        response.status_code = status.HTTP_200_OK
    return message_read(row)


@router.get("", response_model=MessagePage, summary="Messages in your area, newest first")
async def list_messages(session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0,
                        status_: Annotated[str | None, Query(alias="status", pattern=r"^[a-z_\-]{3,20}$", description=(
                            "Only messages in this state: queued, attempting, sent, delivered, failed, expired, "
                            "cancelled ..."))] = None,
                        template_key: TemplateKeyQuery = None,
                        ) -> MessagePage:
    """Messages to recipients in your area scope, newest first, with masked phones, status, channel,
    segments and cost; filter by status and template.

    **Who:** `notify:read` (help desks, anganwadi workers, department officers, auditors).

    **Errors:** 422 a malformed status or template key.
    """
    rows, total = await repo.list_page(session, area_prefixes=identity.area_scope, status=status_,
                                       template_key=template_key, limit=limit, offset=offset)
    return MessagePage(items=[message_read(r) for r in rows], total=total, limit=limit, offset=offset)


async def _visible(session: DbSession, identity: Reader, message_id: uuid.UUID) -> RowMapping:
    row = await repo.get(session, message_id)
    if row is None:
        raise NotFound("No such message.")
    require_area(identity, row["area_code"])
    return row


@router.get("/{message_id}", response_model=MessageRead, summary="One message and its status")
async def get_message(message_id: MessageId, session: DbSession, identity: Reader) -> MessageRead:
    """One message: masked recipient, template and version, text, channel, status, attempts, when it
    may be sent and until when, the provider's id, segments and cost.

    **Who:** `notify:read` (help desks, anganwadi workers, department officers, auditors).

    **Errors:** 404 no such message in your area.
    """
    return message_read(await _visible(session, identity, message_id))


@router.get("/{message_id}/events", response_model=list[MessageEventRead],
            summary="The message's delivery log: attempts, answers, callbacks (applied or stale)")
async def message_events(message_id: MessageId, session: DbSession, identity: Reader) -> list[MessageEventRead]:
    """The message's delivery log, oldest first: each attempt, the provider's answer and every status
    callback (a late one that could not move the status back is kept with `applied: false`).

    **Who:** `notify:read` (help desks, anganwadi workers, department officers, auditors).

    **Errors:** 404 no such message in your area.
    """
    await _visible(session, identity, message_id)
    return [MessageEventRead.model_validate(r) for r in await repo.events_of(session, message_id)]
