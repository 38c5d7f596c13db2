"""Templates: register a language version (DLT-checked), list, preview with encoding, segments and cost."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from kernel.db import DbSession
from services.notify.repository import templates as repo
from services.notify.routes.common import Admin, Limit, Offset, Reader
from services.notify.schemas import Preview, PreviewRequest, TemplateCreate, TemplatePage, TemplateRead
from services.notify.schemas.templates import PlanRead, PlanRequest
from services.notify.service import templates as service

router = APIRouter(prefix="/templates", tags=["templates"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TemplateRead,
             summary="Register a template version in one language (refused unless it matches its DLT text)")
async def create_template(body: TemplateCreate, session: DbSession, identity: Admin) -> TemplateRead:
    return TemplateRead.model_validate(await service.create_template(session, identity, body))


@router.get("", response_model=TemplatePage, summary="Templates, by key, language and newest version first")
async def list_templates(
    session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0,
    key: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_.\-]{1,63}$")] = None,
) -> TemplatePage:
    rows, total = await repo.list_page(session, key=key, limit=limit, offset=offset)
    return TemplatePage(items=[TemplateRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/preview", response_model=Preview,
             summary="Render, check against DLT, and show encoding, segments and cost before sending")
async def preview(body: PreviewRequest, session: DbSession, identity: Reader) -> Preview:
    return await service.preview(session, body)


@router.post("/plan", response_model=PlanRead,
             summary="Plan a broadcast: duration at the sender's rate against the provider's queue validity")
async def plan(body: PlanRequest, session: DbSession, identity: Reader) -> PlanRead:
    return await service.plan(session, body)
