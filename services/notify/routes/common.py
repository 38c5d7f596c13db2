"""Dependencies shared by the notify routes: who may do what (as data), the clock, paging."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request

from kernel.auth import Identity, require_scope
from kernel.scheduler import SystemClock

# Scopes per kind of operation (the gateway already demands notify:read for reads, notify:send for writes).
Reader = Annotated[Identity, require_scope("notify:read")]
Sender = Annotated[Identity, require_scope("notify:send")]
Admin = Annotated[Identity, require_scope("notify:admin")]  # templates, schedules, workers
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
AREA_PATTERN = r"^[A-Za-z]{2}(-\d{1,6}){0,5}$"


def _now(request: Request) -> datetime:
    clock = getattr(request.app.state.runtime, "clock", None) or SystemClock()
    return clock.now()


Now = Annotated[datetime, Depends(_now)]
