"""Immunisation schedules, due lists (JSON and CSV), anganwadi workers, doses and reminder runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status

from kernel.db import DbSession
from kernel.errors import NotFound
from services.notify.repository import contacts as contacts_repo
from services.notify.repository import duelists as repo
from services.notify.routes.common import AREA_PATTERN, Admin, DoseRecorder, Limit, Now, Offset, OnQuery, Reader
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
WorkerId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$", examples=["awc-23-0456-2210-017"],
                               description="The anganwadi worker's id (chosen when registering her)")]
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
    """Publish an immunisation schedule version as data (each dose: code, vaccine, target child or
    pregnancy, minimum and upper age, predecessor and gap, reminder lead days, grace days, the
    areas where it applies) and make it the active one for due lists and reminders. The same
    version again answers 200 and makes it active.

    **Who:** `notify:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `notify:admin`; 422 an inconsistent schedule (an unknown predecessor, an
    upper age below the minimum), a malformed version or code.
    """
    if not await service.publish_schedule(session, body.model_dump()):
        response.status_code = status.HTTP_200_OK
    return ScheduleRead(version=body.version, name=body.name, source=body.source, active=True, items=body.items)


@router.get("/schedules", response_model=list[ScheduleRead], summary="Schedule versions, oldest first")
async def list_schedules(session: DbSession, identity: Reader) -> list[ScheduleRead]:
    """Every schedule version, oldest first, and which one is active.

    **Who:** `notify:read` (help desks, anganwadi workers, department officers, auditors).

    **Errors:** 403 without `notify:read`.
    """
    return [ScheduleRead(version=r["version"], name=r["name"], active=r["active"], source=r["source"])
            for r in await repo.versions(session)]


@router.get("/schedules/{version}", response_model=ScheduleRead, summary="One schedule version and its items")
async def get_schedule(version: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9.\-]{2,39}$", examples=["in-uip-2024.1"],
                                                   description="The schedule version")], session: DbSession,
                       identity: Reader) -> ScheduleRead:
    """One schedule version with its doses.

    **Who:** `notify:read` (help desks, anganwadi workers, department officers, auditors).

    **Errors:** 404 no such schedule version.
    """
    found = [r for r in await repo.versions(session) if r["version"] == version]
    if not found:
        raise NotFound("No such schedule version.")
    items = [{k: v for k, v in dict(i).items() if k != "version"} for i in await repo.items_of(session, version)]
    return ScheduleRead(version=version, name=found[0]["name"], active=found[0]["active"], source=found[0]["source"],
                        items=items)  # type: ignore[arg-type]


@router.get("/due-lists", response_model=DueListPage, responses=CSV_RESPONSE,
            summary="Doses due or overdue on a day in an area (children by date of birth, pregnant women)")
async def due_list(session: DbSession, identity: Reader, now: Now,
                   area: Annotated[str, Query(max_length=64, pattern=AREA_PATTERN, examples=["IN-23-0456-2210"],
                                              description="The area (and below)")],
                   on: OnQuery = None, limit: Limit = 100, offset: Offset = 0,
                   format: Format = "json") -> DueListPage | Response:
    """Children (by date of birth) and pregnant women in the area with a dose due or overdue on `on`
    under the active schedule, for the health worker's visit; `format=csv` for a printable sheet.
    `contacts_updated_at` says how current notify's copy of the registry is.

    **Who:** `notify:read` (help desks, anganwadi workers, department officers, auditors), for an area in your scope.

    **Errors:** 404 the area is outside your scope; 409 no schedule is active yet.
    """
    day = on or now.date()
    rows, total, version, fresh = await service.due_list(session, identity, area.upper(), day,
                                                         limit=limit, offset=offset)
    if format == "csv":
        return Response(service.as_csv(rows), media_type="text/csv")
    return DueListPage(items=[_item(r) for r in rows], total=total, limit=limit, offset=offset, on=day,
                       schedule_version=version, contacts_updated_at=fresh)


@router.put("/workers/{worker_id}", response_model=WorkerRead, summary="Register or update an anganwadi worker")
async def put_worker(worker_id: WorkerId, body: WorkerUpsert, session: DbSession, identity: Admin) -> WorkerRead:
    """Register an anganwadi worker (or update her): name, phone (her daily due list goes there),
    service area and language.

    **Who:** `notify:admin`: the admin role, or a client given that scope (it passes the gateway on its own).
    The area must be in the caller's scope.

    **Errors:** 403 without `notify:admin`; 404 the area is outside your scope; 422 a phone not in
    E.164 form.
    """
    if not identity.can_access_area(body.area_code):
        raise NotFound("No such area in your scope.")
    return WorkerRead.model_validate(await contacts_repo.upsert_worker(session, {"id": worker_id,
                                                                                 **body.model_dump()}))


@router.get("/workers/{worker_id}/due-list", response_model=DueListPage, responses=CSV_RESPONSE,
            summary="A worker's daily due list (her service area), JSON or CSV")
async def worker_due_list(worker_id: WorkerId, session: DbSession, identity: Reader, now: Now,
                          on: OnQuery = None, format: Format = "json") -> DueListPage | Response:
    """The worker's due list for `on` (her service area), JSON or CSV, as sent to her each morning.

    **Who:** `notify:read` (help desks, anganwadi workers, department officers, auditors).

    **Errors:** 404 no such worker in your area; 409 no schedule is active yet.
    """
    day = on or now.date()
    _, rows, version = await service.worker_due_list(session, identity, worker_id, day)
    if format == "csv":
        return Response(service.as_csv(rows), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="due-{worker_id}-{day}.csv"'})
    return DueListPage(items=[_item(r) for r in rows], total=len(rows), limit=len(rows), offset=0, on=day,
                       schedule_version=version, contacts_updated_at=await repo.contacts_freshness(session))


@router.post("/doses", response_model=DoseRead, summary="Record a dose given; its pending reminders are cancelled")
async def record_dose(body: DoseCreate, session: DbSession, identity: DoseRecorder, now: Now) -> DoseRead:
    """A dose was given (from the anganwadi register or an app): recorded once per person and dose,
    and the person's pending reminders for it are cancelled. Recording it again changes nothing
    (`recorded: false`).

    **Who:** `notify:dose_record` (anganwadi workers, department officers) at village/ward level or
    wider for the person's area; the gateway admits the route with it alone.

    **Errors:** 403 your scope does not hold the person's area at that level; 404 no such person in your
    area; 422 a dose code not in the active schedule.
    """
    recorded, cancelled = await service.record_dose(session, identity, person_id=body.person_id, code=body.code,
                                                    given_on=body.given_on, source="api", now=now)
    return DoseRead(person_id=body.person_id, code=body.code, given_on=body.given_on, recorded=recorded,
                    reminders_cancelled=cancelled)


@router.post("/reminders/run", response_model=dict[str, int],
             summary="Queue today's immunisation reminders now (the daily job does this at 07:00 IST)")
async def run_reminders(session: DbSession, identity: Admin, now: Now, on: OnQuery = None) -> dict[str, int]:
    """Queue the immunisation reminders due on `on` now (to parents, in their language, within quiet
    hours) and each worker's due list, instead of waiting for the daily 07:00 IST job; answers how
    many were queued (`beneficiary`, `worker`) and `skipped`. Idempotent per person, dose and day.

    **Who:** `notify:admin`: the admin role, or a client given that scope (it passes the gateway on its own).

    **Errors:** 403 without `notify:admin`; 409 no schedule is active yet.
    """
    return await service.queue_reminders(session, on or now.date(), now)
