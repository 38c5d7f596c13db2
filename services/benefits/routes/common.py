"""Dependencies shared by the benefits routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response

from kernel import roles
from kernel.auth import CurrentIdentity, Identity


def permission(name: str) -> object:
    """The caller holds this row of the permission table (kernel/roles.py), through a role or the scope."""
    async def check(identity: CurrentIdentity) -> Identity:
        roles.require(identity, name)
        return identity

    return Depends(check)


Reader = Annotated[Identity, permission("benefits:read")]
Writer = Annotated[Identity, permission("benefits:post")]
Admin = Annotated[Identity, permission("benefits:admin")]
Reviewer = Annotated[Identity, permission("benefits:review")]
Public = Annotated[Identity, permission("benefits:public")]
HistoryReader = Annotated[Identity, permission("benefits:history")]
AREA_PATTERN = r"^[A-Z]{2}(-\d{1,6}){0,5}$"
CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_\-]{1,39}$"
AreaQuery = Annotated[str, Query(max_length=64, pattern=AREA_PATTERN, description="Area code, e.g. BD-40-87-90")]
CodePath = Annotated[str, Path(max_length=40, pattern=CODE_PATTERN, examples=["BD-OAA"],
                                description="The code (capitals, digits, - and _): a department's (BD-DSS) or "
                                            "a scheme's (BD-OAA)")]
DepartmentQuery = Annotated[str, Query(max_length=40, pattern=CODE_PATTERN, description="Department code",
                                       examples=["BD-DSS"])]
OptDepartmentQuery = Annotated[str | None, Query(max_length=40, pattern=CODE_PATTERN, examples=["BD-DSS"],
                                                 description="Only this department")]
EntryId = Annotated[uuid.UUID, Path(description="The ledger entry's id (from POST /entries or GET /entries)")]
FileId = Annotated[uuid.UUID, Path(description="The posted file's id (from POST /files)")]
FlagId = Annotated[uuid.UUID, Path(description="The flag's id (from GET /flags)")]
PersonId = Annotated[uuid.UUID, Path(description="The person's id in the registry")]
HouseholdId = Annotated[uuid.UUID, Path(description="The household's id in the registry")]
ConsentId = Annotated[uuid.UUID, Path(description="The consent's id (from POST /consents)")]
SchemeQuery = Annotated[str, Query(max_length=40, pattern=CODE_PATTERN, description="Scheme code",
                                   examples=["BD-OAA"])]
# Optional filters: the Query() must wrap the optional type, or /docs loses the parameter's description.
OptSchemeQuery = Annotated[str | None, Query(max_length=40, pattern=CODE_PATTERN, description="Only this scheme",
                                             examples=["BD-OAA"])]
OptAreaQuery = Annotated[str | None, Query(max_length=64, pattern=AREA_PATTERN, examples=["BD-40-87-90"],
                                           description="Only this area (schemes that run there)")]
# A route answering CSV: documented as text/csv (not the default application/json).
CSV_ROUTE: dict[str, Any] = {"response_class": Response,
                             "responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (at most 500)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip (the page's start); `next` links the "
                                                               "following page")]



async def _now(request: Request) -> datetime:
    """The service's clock (the scheduler's): tests that set it move every "today" and "now" here.
    ``async`` so that FastAPI calls it inline: a plain function dependency costs a thread-pool round
    trip (about 0.5 ms of CPU per request on the posting path)."""
    return request.app.state.runtime.scheduler.clock.now()  # type: ignore[no-any-return]


Now = Annotated[datetime, Depends(_now)]


def next_link(path: str, *, limit: int, offset: int, total: int, **params: object) -> str | None:
    """The public gateway path of the next page, or None on the last one."""
    if offset + limit >= total:
        return None
    query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
    return f"/benefits{path}?{query}{'&' if query else ''}limit={limit}&offset={offset + limit}"


def scopes_of(identity: Identity) -> list[str]:
    return list(identity.area_scope)

