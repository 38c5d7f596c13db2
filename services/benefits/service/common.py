"""Helpers every benefits service module uses: the read/decision audit."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.context import request_id_var
from services.benefits import SERVICE


async def audit(session: AsyncSession, identity: Identity, record_type: str, record_ids: Sequence[Any], *,
                action: str, purpose: str | None, details: Mapping[str, Any] | None = None) -> None:
    """One audit_event row per record read or decided on: who, when, what, why."""
    if not record_ids:
        return
    await session.execute(
        text(f'INSERT INTO "{SERVICE}".audit_event (actor, action, record_type, record_id, purpose, request_id, '
             "details) VALUES (:actor, :action, :record_type, :record_id, :purpose, :request_id, "
             "CAST(:details AS jsonb))"),
        [{"actor": identity.subject, "action": action, "record_type": record_type, "record_id": str(rid),
          "purpose": purpose, "request_id": request_id_var.get(),
          "details": json.dumps({"kind": identity.kind, "client_id": identity.client_id, **(details or {})},
                                default=str)}
         for rid in record_ids],
    )
