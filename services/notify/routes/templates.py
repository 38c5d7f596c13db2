"""Templates: register a language version (DLT-checked), list, preview with encoding, segments and cost."""

from __future__ import annotations

from fastapi import APIRouter, status

from kernel.db import DbSession
from services.notify.repository import templates as repo
from services.notify.routes.common import Admin, Limit, Offset, Reader, TemplateKeyQuery
from services.notify.schemas import Preview, PreviewRequest, TemplateCreate, TemplatePage, TemplateRead
from services.notify.schemas.templates import PlanRead, PlanRequest
from services.notify.service import templates as service

router = APIRouter(prefix="/templates", tags=["templates"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TemplateRead,
             summary="Register a template version in one language (refused unless it matches its DLT text)")
async def create_template(body: TemplateCreate, session: DbSession, identity: Admin) -> TemplateRead:
    """Register the next version of a template in one language: the text with `{variable}`
    placeholders, its DLT (India's operator registry) entity id, template id, header and registered
    text with `{#var#}` slots, the category (quiet hours differ for promotional), and what a voice
    call says. Refused unless the text matches its DLT registration, because operators drop messages
    that do not. The newest version is the one sent.

    **Who:** `notify:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `notify:admin`; 422 the body does not match the DLT text, a malformed DLT id
    or header, a voice text with variables the body lacks.
    """
    return TemplateRead.model_validate(await service.create_template(session, identity, body))


@router.get("", response_model=TemplatePage, summary="Templates, by key, language and newest version first")
async def list_templates(
    session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0,
    key: TemplateKeyQuery = None,
) -> TemplatePage:
    """Templates by key, language and newest version first, with their variables and DLT ids.

    **Who:** `notify:read` (help desks, anganwadi workers, department officers, auditors).

    **Errors:** 422 a malformed key.
    """
    rows, total = await repo.list_page(session, key=key, limit=limit, offset=offset)
    return TemplatePage(items=[TemplateRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/preview", response_model=Preview,
             summary="Render, check against DLT, and show encoding, segments and cost before sending")
async def preview(body: PreviewRequest, session: DbSession, identity: Reader) -> Preview:
    """Render a template with variables as it would be sent: the text, whether it matches its DLT
    registration, encoding (GSM-7 or UCS-2 for Hindi and Bengali), characters, segments, cost per
    message and for `recipients`, and whether `to` has opted out. Sends nothing.

    **Who:** `notify:read` (the gateway admits this POST on `notify:read`, as a read).

    **Errors:** 422 no active template for the key and language, a variable missing or too long for its
    DLT slot, a text over 1,600 characters.
    """
    return await service.preview(session, body)


@router.post("/plan", response_model=PlanRead,
             summary="Plan a broadcast: duration at the sender's rate against the provider's queue validity")
async def plan(body: PlanRequest, session: DbSession, identity: Reader) -> PlanRead:
    """Plan a broadcast (a district's reminders): segments per message and in total, and how long the
    send takes at the sender's rate against the provider's queue validity, so a large send is split
    or throttled before messages expire in the queue. Sends nothing.

    **Who:** `notify:read` (the gateway admits this POST on `notify:read`, as a read).

    **Errors:** 422 no active template for the key and language, a missing variable, recipients over
    10 million.
    """
    return await service.plan(session, body)
