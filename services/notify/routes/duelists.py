"""Immunisation schedules, due lists (JSON and CSV), anganwadi workers, doses and reminder runs."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status

from kernel.db import DbSession
from kernel.errors import NotFound
from services.notify.repository import contacts as contacts_repo
from services.notify.repository import duelists as repo
from services.notify.routes.common import AREA_PATTERN, Admin, DoseRecorder, Limit, Now, Offset, Reader
from services.notify.schemas import (
    DoseCreate,
    DoseRead,
    DueItem,
    DueListPage,
    ScheduleDocument,
    ScheduleRead,
    WorkerRead,
    WorkerUpsert,
)
from services.notify.service import duelists as service

router = APIRouter(tags=["due lists"])
WorkerId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
Format = Annotated[Literal["json", "csv"], Query(description="csv: the list as a spreadsheet")]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}, "description": "The due list"}}


def _item(row: object) -> DueItem:
    r = dict(row)  # type: ignore[call-overload]
    return DueItem(name=r["full_name"], **{k: r[k] for k in DueItem.model_fields if k != "name"})


@router.post("/schedules", status_code=status.HTTP_201_CREATED, response_model=ScheduleRead,
             responses={200: {"description": "This version exists already (made active)"}},
             summary="Publish an immunisation schedule version (data) and make it the active one")
async def publish_schedule(body: ScheduleDocument, session: DbSession, identity: Admin,
                           response: Response) -> ScheduleRead:
    if not await service.publish_schedule(session, body.model_dump()):
        response.status_code = status.HTTP_200_OK
    return ScheduleRead(version=body.version, name=body.name, source=body.source, active=True, items=body.items)


@router.get("/schedules", response_model=list[ScheduleRead], summary="Schedule versions, oldest first")
async def list_schedules(session: DbSession, identity: Reader) -> list[ScheduleRead]:
    return [ScheduleRead(version=r["version"], name=r["name"], active=r["active"], source=r["source"])
            for r in await repo.versions(session)]


@router.get("/schedules/{version}", response_model=ScheduleRead, summary="One schedule version and its items")
async def get_schedule(version: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9.\-]{2,39}$")], session: DbSession,
                       identity: Reader) -> ScheduleRead:
    found = [r for r in await repo.versions(session) if r["version"] == version]
    if not found:
        raise NotFound("No such schedule version.")
    items = [{k: v for k, v in dict(i).items() if k != "version"} for i in await repo.items_of(session, version)]
    return ScheduleRead(version=version, name=found[0]["name"], active=found[0]["active"], source=found[0]["source"],
                        items=items)  # type: ignore[arg-type]


@router.get("/due-lists", response_model=DueListPage, responses=CSV_RESPONSE,
            summary="Doses due or overdue on a day in an area (children by date of birth, pregnant women)")
async def due_list(session: DbSession, identity: Reader, now: Now,
                   area: Annotated[str, Query(max_length=64, pattern=AREA_PATTERN)],
                   on: date | None = None, limit: Limit = 100, offset: Offset = 0,
                   format: Format = "json") -> DueListPage | Response:
    day = on or now.date()
    rows, total, version, fresh = await service.due_list(session, identity, area.upper(), day,
                                                         limit=limit, offset=offset)
    if format == "csv":
        return Response(service.as_csv(rows), media_type="text/csv")
    return DueListPage(items=[_item(r) for r in rows], total=total, limit=limit, offset=offset, on=day,
                       schedule_version=version, contacts_updated_at=fresh)


@router.put("/workers/{worker_id}", response_model=WorkerRead, summary="Register or update an anganwadi worker")
async def put_worker(worker_id: WorkerId, body: WorkerUpsert, session: DbSession, identity: Admin) -> WorkerRead:
    if not identity.can_access_area(body.area_code):
        raise NotFound("No such area in your scope.")
    return WorkerRead.model_validate(await contacts_repo.upsert_worker(session, {"id": worker_id,
                                                                                 **body.model_dump()}))


@router.get("/workers/{worker_id}/due-list", response_model=DueListPage, responses=CSV_RESPONSE,
            summary="A worker's daily due list (her service area), JSON or CSV")
async def worker_due_list(worker_id: WorkerId, session: DbSession, identity: Reader, now: Now,
                          on: date | None = None, format: Format = "json") -> DueListPage | Response:
    day = on or now.date()
    _, rows, version = await service.worker_due_list(session, identity, worker_id, day)
    if format == "csv":
        return Response(service.as_csv(rows), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="due-{worker_id}-{day}.csv"'})
    return DueListPage(items=[_item(r) for r in rows], total=len(rows), limit=len(rows), offset=0, on=day,
                       schedule_version=version, contacts_updated_at=await repo.contacts_freshness(session))


@router.post("/doses", response_model=DoseRead, summary="Record a dose given; its pending reminders are cancelled")
async def record_dose(body: DoseCreate, session: DbSession, identity: DoseRecorder, now: Now) -> DoseRead:
    recorded, cancelled = await service.record_dose(session, identity, person_id=body.person_id, code=body.code,
                                                    given_on=body.given_on, source="api", now=now)
    return DoseRead(person_id=body.person_id, code=body.code, given_on=body.given_on, recorded=recorded,
                    reminders_cancelled=cancelled)


@router.post("/reminders/run", response_model=dict[str, int],
             summary="Queue today's immunisation reminders now (the daily job does this at 07:00 IST)")
async def run_reminders(session: DbSession, identity: Admin, now: Now, on: date | None = None) -> dict[str, int]:
    return await service.queue_reminders(session, on or now.date(), now)
