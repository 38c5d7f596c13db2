"""Dependencies shared by the marketplace routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request

from kernel.auth import Identity, require_scope
from services.marketplace.service.common import utcnow

Reader = Annotated[Identity, require_scope("marketplace:read")]
Writer = Annotated[Identity, require_scope("marketplace:write")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def _now(request: Request) -> datetime:
    """The service's clock (the scheduler's, which tests replace with a ManualClock)."""
    runtime = request.app.state.runtime
    return utcnow(runtime.scheduler.clock if runtime.scheduler is not None else runtime.clock)


Now = Annotated[datetime, Depends(_now)]
