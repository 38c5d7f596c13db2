"""Offline sync route."""

from __future__ import annotations

from fastapi import APIRouter

from kernel.db import DbSession
from services.registry.routes.common import Writer
from services.registry.schemas.surveys import SyncBatch, SyncResult
from services.registry.service import surveys

router = APIRouter(prefix="/sync", tags=["surveys"])


@router.post("/batches", response_model=SyncResult,
             summary="Upload a batch of offline survey rows; resending the same batch is harmless")
async def sync_batch(body: SyncBatch, session: DbSession, identity: Writer) -> SyncResult:
    return await surveys.sync(session, identity, body)
