"""Broadcast campaigns (audience, throttled sending, pause/resume/cancel, progress) and survey answers."""

from __future__ import annotations

import html
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import RowMapping

from kernel.db import DbSession
from services.notify.repository import campaigns as repo
from services.notify.routes.common import CampaignRunner, Limit, Now, Offset, Reader
from services.notify.schemas.campaigns import CampaignCreate, CampaignPage, CampaignRead, SurveySummary
from services.notify.service import campaigns as service

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
public = APIRouter(prefix="/surveys", tags=["surveys"])
LEVELS = {"district": 3, "block": 4, "panchayat": 5, "village": 6}


async def campaign_read(session: DbSession, row: RowMapping, *, plan: bool = True) -> CampaignRead:
    audience = dict(row["audience"])
    if audience.get("recipients"):
        audience["recipients"] = len(audience["recipients"])
    return CampaignRead.model_validate({
        **row, "audience": audience, "progress": await service.progress(session, row),
        "plan": await service.plan_of(session, row) if plan else {}})


@router.post("", status_code=201, response_model=CampaignRead,
             summary="Create a campaign: its audience is selected now (opted-out phones left out); nothing is sent yet")
async def create_campaign(body: CampaignCreate, session: DbSession, identity: CampaignRunner, now: Now) -> CampaignRead:
    """The answer's `plan` shows how long it takes at `rate_per_minute`, the segments and cost, and whether the
    provider's queue would hold it if it were sent at once."""
    return await campaign_read(session, await service.create(session, identity, body, now))


@router.get("", response_model=CampaignPage, summary="Campaigns of your areas, newest first")
async def list_campaigns(session: DbSession, identity: Reader, limit: Limit = 50, offset: Offset = 0) -> CampaignPage:
    rows, total = await repo.list_page(session, area_scope=identity.area_scope, limit=limit, offset=offset)
    return CampaignPage(items=[await campaign_read(session, r, plan=False) for r in rows], total=total, limit=limit,
                        offset=offset)


@router.get("/{campaign_id}", response_model=CampaignRead, summary="A campaign and its live progress")
async def get_campaign(campaign_id: uuid.UUID, session: DbSession, identity: Reader) -> CampaignRead:
    return await campaign_read(session, await service.visible(session, identity, campaign_id))


@router.post("/{campaign_id}/start", response_model=CampaignRead, summary="Start sending at the campaign's rate")
async def start(campaign_id: uuid.UUID, session: DbSession, identity: CampaignRunner, now: Now) -> CampaignRead:
    return await campaign_read(session, await service.start(session, identity, campaign_id, now))


@router.post("/{campaign_id}/pause", response_model=CampaignRead,
             summary="Pause: no more recipients are queued and queued messages not yet sent are held")
async def pause(campaign_id: uuid.UUID, session: DbSession, identity: CampaignRunner, now: Now) -> CampaignRead:
    return await campaign_read(session, await service.pause(session, identity, campaign_id, now))


@router.post("/{campaign_id}/resume", response_model=CampaignRead, summary="Resume a paused campaign")
async def resume(campaign_id: uuid.UUID, session: DbSession, identity: CampaignRunner, now: Now) -> CampaignRead:
    return await campaign_read(session, await service.resume(session, identity, campaign_id, now))


@router.post("/{campaign_id}/cancel", response_model=CampaignRead,
             summary="Cancel: messages not yet sent are cancelled, nobody else is queued")
async def cancel(campaign_id: uuid.UUID, session: DbSession, identity: CampaignRunner, now: Now) -> CampaignRead:
    return await campaign_read(session, await service.cancel(session, identity, campaign_id, now))


@router.get("/{campaign_id}/survey", response_model=SurveySummary, summary="Survey answers summarised per area")
async def survey_summary(campaign_id: uuid.UUID, session: DbSession, identity: Reader,
                         level: Annotated[str, Query(pattern=r"^(district|block|panchayat|village)$")] = "block",
                         ) -> SurveySummary:
    row, areas = await service.summary(session, identity, campaign_id, LEVELS[level])
    return SurveySummary(campaign_id=row["id"], question=row["survey"]["question"], options=row["survey"]["options"],
                         recipients=row["total"], responses=sum(a["responses"] for a in areas),
                         areas=areas)  # type: ignore[arg-type]


Token = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]


@public.get("/{token}", response_class=HTMLResponse,
            summary="A recipient's survey page from the SMS link (no login): the question, or the answer recorded")
async def survey_page(token: Token, session: DbSession, now: Now,
                      answer: Annotated[int | None, Query(ge=1, le=8)] = None) -> HTMLResponse:
    """Plain HTML with one link per answer, for a basic phone's browser: no JavaScript, no form post."""
    recipient, row = await service.survey_page(session, token)
    question = html.escape(row["survey"]["question"])
    if answer is not None and await service.answer(session, recipient, answer, "sms", now):
        body = f"<p>{question}</p><p><b>Thank you: {answer} recorded.</b></p>"
    else:
        links = " ".join(f'<a href="?answer={n}">{n}</a>' for n in range(1, int(row["survey"]["options"]) + 1))
        body = f"<p>{question}</p><p>{links}</p>"
    return HTMLResponse(f'<!doctype html><html><head><meta charset="utf-8"><title>GramSetu</title></head>'
                        f"<body>{body}</body></html>")
