"""Broadcast campaigns (audience, throttled sending, pause/resume/cancel, progress) and survey answers."""

from __future__ import annotations

import html
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import RowMapping

from kernel.db import DbSession
from kernel.validation import body_within
from services.notify.repository import campaigns as repo
from services.notify.routes.common import CampaignRunner, Limit, Now, Offset, Reader
from services.notify.schemas.campaigns import (
    CampaignCreate,
    CampaignPage,
    CampaignRead,
    RecipientListOut,
    SurveySummary,
)
from services.notify.service import campaigns as service

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
public = APIRouter(prefix="/surveys", tags=["surveys"])
LEVELS = {"district": 3, "block": 4, "panchayat": 5, "village": 6}
LIST_MAX_BYTES = 8 * 1024 * 1024  # 50,000 rows of phone, area, language and a name fit well within
LIST_EXAMPLE = ("phone,area_code,language,name\n09812300045,IN-23-0456-2210,hi,Sunita Bai\n"
                "+91 98123 00046,IN-23-0456-2211,,Kamla Devi\n")
CampaignId = Annotated[uuid.UUID, Path(description="The campaign's id (from POST /campaigns or the list)")]


async def campaign_read(session: DbSession, row: RowMapping, *, plan: bool = True) -> CampaignRead:
    return CampaignRead.model_validate({
        **row, "progress": await service.progress(session, row),
        "plan": await service.plan_of(session, row) if plan else {}})


@router.post("", status_code=201, response_model=CampaignRead,
             summary="Create a campaign: its audience is selected now (opted-out phones left out); nothing is sent yet")
async def create_campaign(body: CampaignCreate, session: DbSession, identity: CampaignRunner, now: Now) -> CampaignRead:
    """A draft campaign whose recipients are selected now: persons of the area by age and sex (registry
    replica), functionaries of the area by role, or the uploaded list; opted-out phones are left out. The
    answer's `plan` shows how long it takes at `rate_per_minute`, the segments and cost, and whether the
    provider's queue would hold it if it were sent at once. Nothing is sent before `start`.

    **Who:** `notify:campaign` in the audience's area (a `department_officer`, or a client given it; the
    gateway opens the route to that permission).

    **Errors:** 403 without `notify:campaign` there; 404 an area outside your scope; 422 an empty audience, an
    unknown role, a survey on channel `auto`, an SMS survey whose template has no `{token}`.
    """
    return await campaign_read(session, await service.create(session, identity, body, now))


@router.post("/recipient-list", response_model=RecipientListOut,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string"}, "example": LIST_EXAMPLE}}}},
             summary="Read an uploaded CSV list of recipients into a campaign audience (every row checked)")
async def recipient_list(request: Request, identity: CampaignRunner) -> RecipientListOut:
    """The office's sheet of recipients as the raw request body (`Content-Type: text/csv`, UTF-8), with the
    columns `phone` and `area_code`, and optionally `language` (en, hi, bn) and `name`. Phones may be
    written as the sheet has them (`09812300045`, `+91 98123 00046`): each is read in its area's country and
    answered in E.164. A phone that comes again is kept once. Nothing is stored: the answer's `recipients`
    go into `audience.recipients` of `POST /campaigns` with `kind: list`, which leaves opted-out phones out.

    **Who:** `notify:campaign` (a `department_officer`, or a client given it); every row's area in your scope.

    **Errors:** 413 over 8 MB; 422 naming each bad row as `rows.<n>.<column>` (the header is row 1; at most 50
    named, `detail` says how many), a header without `phone` or `area_code` or with an unknown column, a
    body that is not UTF-8 text, more than 50,000 recipients, a row whose area is outside your scope.
    """
    data = await body_within(request, LIST_MAX_BYTES,
                             f"A recipient list is at most {LIST_MAX_BYTES:,} bytes; send it in parts.")
    return RecipientListOut.model_validate(service.recipient_list(identity, data))


@router.get("", response_model=CampaignPage, summary="Campaigns of your areas, newest first")
async def list_campaigns(session: DbSession, identity: Reader, limit: Limit = 50, offset: Offset = 0) -> CampaignPage:
    """Campaigns whose audience area is in your area scope, newest first, each with its progress.

    **Who:** `notify:read`. **Errors:** 403 without it; 422 a bad `limit`/`offset`.
    """
    rows, total = await repo.list_page(session, area_scope=identity.area_scope, limit=limit, offset=offset)
    return CampaignPage(items=[await campaign_read(session, r, plan=False) for r in rows], total=total, limit=limit,
                        offset=offset)


@router.get("/{campaign_id}", response_model=CampaignRead, summary="A campaign and its live progress")
async def get_campaign(campaign_id: CampaignId, session: DbSession, identity: Reader) -> CampaignRead:
    """Status and live progress: recipients queued, skipped and waiting, the campaign's messages by status
    (pending, paused, sent, delivered, failed, ...), and the plan for what is left.

    **Who:** `notify:read`. **Errors:** 403 without it; 404 no such campaign in your area.
    """
    return await campaign_read(session, await service.visible(session, identity, campaign_id))


@router.post("/{campaign_id}/start", response_model=CampaignRead, summary="Start sending at the campaign's rate")
async def start(campaign_id: CampaignId, session: DbSession, identity: CampaignRunner, now: Now) -> CampaignRead:
    """Start a draft: every tick (10 s) queues the next `rate_per_minute × 10/60` recipients; starting a running
    campaign again changes nothing.

    **Who:** `notify:campaign` in its area. **Errors:** 403; 404; 409 a paused (resume it), cancelled or
    finished campaign.
    """
    return await campaign_read(session, await service.start(session, identity, campaign_id, now))


@router.post("/{campaign_id}/pause", response_model=CampaignRead,
             summary="Pause: no more recipients are queued and queued messages not yet sent are held")
async def pause(campaign_id: CampaignId, session: DbSession, identity: CampaignRunner, now: Now) -> CampaignRead:
    """Pause a running campaign: no more recipients are queued, and its queued messages not yet handed to the
    provider are held (status `paused`) until it is resumed.

    **Who:** `notify:campaign` in its area. **Errors:** 403; 404; 409 a campaign that is not running.
    """
    return await campaign_read(session, await service.pause(session, identity, campaign_id, now))


@router.post("/{campaign_id}/resume", response_model=CampaignRead, summary="Resume a paused campaign")
async def resume(campaign_id: CampaignId, session: DbSession, identity: CampaignRunner, now: Now) -> CampaignRead:
    """Resume a paused campaign: its held messages go back to the dispatcher (dropped if they expired meanwhile)
    and the ticks go on.

    **Who:** `notify:campaign` in its area. **Errors:** 403; 404; 409 a campaign that is not paused.
    """
    return await campaign_read(session, await service.resume(session, identity, campaign_id, now))


@router.post("/{campaign_id}/cancel", response_model=CampaignRead,
             summary="Cancel: messages not yet sent are cancelled, nobody else is queued")
async def cancel(campaign_id: CampaignId, session: DbSession, identity: CampaignRunner, now: Now) -> CampaignRead:
    """Cancel for good: its messages not yet handed to the provider are cancelled and nobody else is queued
    (also after every recipient was queued, while the last messages wait for the dispatcher); cancelling a
    cancelled campaign changes nothing.

    **Who:** `notify:campaign` in its area. **Errors:** 403; 404 no such campaign in your area.
    """
    return await campaign_read(session, await service.cancel(session, identity, campaign_id, now))


@router.get("/{campaign_id}/survey", response_model=SurveySummary, summary="Survey answers summarised per area")
async def survey_summary(campaign_id: CampaignId, session: DbSession, identity: Reader,
                         level: Annotated[str, Query(pattern=r"^(district|block|panchayat|village)$", description=(
                             "Group answers by the recipients' district, block, panchayat or village"))] = "block",
                         ) -> SurveySummary:
    """Answers collected by keypress or SMS link, per area at `level`: how many gave each answer and the average.

    **Who:** `notify:read`. **Errors:** 403 without it; 404 no such campaign in your area, or it has no survey.
    """
    row, areas = await service.summary(session, identity, campaign_id, LEVELS[level])
    return SurveySummary(campaign_id=row["id"], question=row["survey"]["question"], options=row["survey"]["options"],
                         recipients=row["total"], responses=sum(a["responses"] for a in areas),
                         areas=areas)  # type: ignore[arg-type]


Token = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", description="The recipient's token from the SMS link")]


@public.get("/{token}", response_class=HTMLResponse,
            summary="A recipient's survey page from the SMS link (no login): the question, or the answer recorded")
async def survey_page(token: Token, session: DbSession, now: Now,
                      answer: Annotated[int | None, Query(ge=1, le=8, description=(
                          "The answer chosen (1..the survey's options); without it the page shows the question"))]
                      = None) -> HTMLResponse:
    """Plain HTML with one link per answer, for a basic phone's browser: no JavaScript, no form post. A later
    answer replaces an earlier one.

    **Who:** anyone holding the link (`notify:survey_answer` opens it at the gateway without credentials; the
    token is the credential). **Errors:** 404 an unknown token; 422 a malformed token or answer.
    """
    recipient, row = await service.survey_page(session, token)
    question = html.escape(row["survey"]["question"])
    if answer is not None and await service.answer(session, recipient, answer, "sms", now):
        body = f"<p>{question}</p><p><b>Thank you: {answer} recorded.</b></p>"
    else:
        links = " ".join(f'<a href="?answer={n}">{n}</a>' for n in range(1, int(row["survey"]["options"]) + 1))
        body = f"<p>{question}</p><p>{links}</p>"
    return HTMLResponse(f'<!doctype html><html><head><meta charset="utf-8"><title>GramSetu</title></head>'
                        f"<body>{body}</body></html>")
