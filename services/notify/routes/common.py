"""Dependencies shared by the notify routes: who may do what (as data), the clock, paging."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from kernel import roles
from kernel.auth import CurrentIdentity, Identity
from kernel.scheduler import SystemClock


def permission(name: str) -> object:
    """The caller holds this row of the permission table (kernel/roles.py), through a role or the scope."""
    async def check(identity: CurrentIdentity) -> Identity:
        roles.require(identity, name)
        return identity

    return Depends(check)


Reader = Annotated[Identity, permission("notify:read")]
Sender = Annotated[Identity, permission("notify:send")]
OptOutRecorder = Annotated[Identity, permission("notify:opt_out")]
DoseRecorder = Annotated[Identity, permission("notify:dose_record")]
Admin = Annotated[Identity, permission("notify:admin")]
WebhookOwner = Annotated[Identity, permission("notify:webhooks")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (at most 500)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip (the page's start)")]
TemplateKeyQuery = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_.\-]{1,63}$", examples=["vaccination_due"],
                                               description="Only this template key")]
OnQuery = Annotated[date | None, Query(description="The day (default: today in the service's clock)")]
MessageId = Annotated[uuid.UUID, Path(description="The message's id (from POST /messages or a list)")]
PersonId = Annotated[uuid.UUID, Path(description="The person's registry id")]
RuleId = Annotated[uuid.UUID, Path(description="The rule's id (from GET /rules)")]
CampaignRunner = Annotated[Identity, permission("notify:campaign")]
AREA_PATTERN = r"^[A-Za-z]{2}(-\d{1,6}){0,5}$"


async def _now(request: Request) -> datetime:
    """``async``: FastAPI runs a plain function dependency in its thread pool, a round trip per request."""
    clock = getattr(request.app.state.runtime, "clock", None) or SystemClock()
    return clock.now()


Now = Annotated[datetime, Depends(_now)]
