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
    """The offline survey app's upload: households and persons collected without a network, each with the
    device's own `client_ref` (persons name their household by `household_client_ref`) and, for a
    record edited on the device, the `base_version` it started from. Rows are applied one by one and
    each succeeds or fails alone: the answer lists every row as `created`, `updated`, `unchanged`,
    `conflict` (edited from a stale version: nothing written, `current_version` says what the server
    has) or `rejected` (with the reasons). The same `device_id` + `batch_id` sent again (a retry after a
    lost answer) returns the first result with `replayed: true` and writes nothing.

    **Who:** `registry:write` (e_volunteer, anganwadi_worker), for areas in your scope.

    **Errors:** 409 the `batch_id` was used before for different content; 422 a malformed batch (a
    single bad row is `rejected` in the answer, not a 422).
    """
    return await surveys.sync(session, identity, body)
