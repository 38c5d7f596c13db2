"""Vendors, workers, skills, shifts, verifications; and the flag the search index filters on."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within_any
from services.marketplace.models import (
    category,
    vendor,
    worker,
    worker_shift,
    worker_shift_exception,
    worker_skill,
    worker_verification,
)
from services.marketplace.repository.common import first, paged, rows

# A skill row is matchable when its worker could take an offer this minute.
_REFRESH_MATCHABLE = text(
    "UPDATE marketplace.worker_skill s SET matchable = ("
    " w.available AND w.status = 'active' AND v.status = 'active' AND w.active_jobs < w.max_jobs"
    " AND w.pending_offer IS NULL) "
    "FROM marketplace.worker w JOIN marketplace.vendor v ON v.id = w.vendor_id "
    "WHERE s.worker_id = w.id AND w.id = ANY(:ids) AND s.matchable IS DISTINCT FROM ("
    " w.available AND w.status = 'active' AND v.status = 'active' AND w.active_jobs < w.max_jobs"
    " AND w.pending_offer IS NULL)"
)
# The worker row's copy of its shifts and exceptions (models: worker.schedule), rebuilt after each change.
_SYNC_SCHEDULE = text(
    "UPDATE marketplace.worker w SET schedule = jsonb_build_object("
    " 'shifts', coalesce((SELECT jsonb_agg(jsonb_build_array(s.weekday, s.starts, s.ends) ORDER BY s.weekday,"
    " s.starts) FROM marketplace.worker_shift s WHERE s.worker_id = w.id), '[]'),"
    " 'exceptions', coalesce((SELECT jsonb_agg(jsonb_build_array(e.on_date, e.available, e.starts, e.ends)"
    " ORDER BY e.on_date) FROM marketplace.worker_shift_exception e WHERE e.worker_id = w.id), '[]'))"
    " WHERE w.id = :id"
)
_MOVE_SKILLS = text(
    "UPDATE marketplace.worker_skill s SET pos = point(CAST(:lon AS float8) + 400 * s.skill_no, CAST(:lat AS float8)) "
    "WHERE s.worker_id = :id"
)


class VendorRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, values: dict[str, Any]) -> RowMapping:
        row = await first(self.session, insert(vendor).values(**values).returning(vendor))
        assert row is not None
        return row

    async def get(self, vendor_id: uuid.UUID) -> RowMapping | None:
        return await first(self.session, select(vendor).where(vendor.c.id == vendor_id))

    async def by_code(self, code: str) -> RowMapping | None:
        return await first(self.session, select(vendor).where(vendor.c.code == code))

    async def update(self, vendor_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = (update(vendor).where(vendor.c.id == vendor_id)
                .values(**values, version=vendor.c.version + 1, updated_at=func.now()).returning(vendor))
        row = await first(self.session, stmt)
        assert row is not None
        return row

    async def ids_for_member(self, names: Sequence[str]) -> list[uuid.UUID]:
        stmt = select(vendor.c.id).where(vendor.c.members.overlap(list(names)))
        return list((await self.session.execute(stmt)).scalars())

    async def page(self, scopes: Sequence[str], only: Sequence[uuid.UUID] | None, *, limit: int,
                   offset: int) -> tuple[list[RowMapping], int]:
        stmt = select(vendor).where(within_any(vendor.c.area_code, list(scopes)))
        if only is not None:
            stmt = stmt.where(vendor.c.id.in_(list(only)))
        return await paged(self.session, stmt.order_by(vendor.c.code, vendor.c.id), limit=limit, offset=offset)


class WorkerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, values: dict[str, Any]) -> RowMapping:
        row = await first(self.session, insert(worker).values(**values).returning(worker))
        assert row is not None
        return row

    async def get(self, worker_id: uuid.UUID, *, lock: bool = False) -> RowMapping | None:
        stmt = select(worker).where(worker.c.id == worker_id)
        return await first(self.session, stmt.with_for_update() if lock else stmt)

    async def by_operator(self, subject: str) -> RowMapping | None:
        return await first(self.session, select(worker).where(worker.c.operator_subject == subject))

    async def update(self, worker_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        stmt = (update(worker).where(worker.c.id == worker_id)
                .values(**values, version=worker.c.version + 1, updated_at=func.now()).returning(worker))
        row = await first(self.session, stmt)
        assert row is not None
        return row

    async def page(self, scopes: Sequence[str], *, vendor_ids: Sequence[uuid.UUID] | None, category_code: str | None,
                   available: bool | None, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        stmt = select(worker).where(within_any(worker.c.service_area_code, list(scopes)))
        if vendor_ids is not None:
            stmt = stmt.where(worker.c.vendor_id.in_(list(vendor_ids)))
        if category_code:
            stmt = stmt.where(worker.c.id.in_(select(worker_skill.c.worker_id).where(
                worker_skill.c.category_code == category_code)))
        if available is not None:
            stmt = stmt.where(worker.c.available.is_(available))
        return await paged(self.session, stmt.order_by(worker.c.created_at, worker.c.id), limit=limit, offset=offset)

    async def refresh_matchable(self, worker_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(_REFRESH_MATCHABLE, {"ids": list(worker_ids)})

    async def refresh_vendor(self, vendor_id: uuid.UUID) -> None:
        ids = list((await self.session.execute(select(worker.c.id).where(worker.c.vendor_id == vendor_id))).scalars())
        if ids:
            await self.refresh_matchable(ids)

    async def move_skills(self, worker_id: uuid.UUID, lat: float, lon: float) -> None:
        await self.session.execute(_MOVE_SKILLS, {"id": worker_id, "lat": lat, "lon": lon})

    async def set_skills(self, worker_id: uuid.UUID, codes: Sequence[str], lat: float, lon: float) -> None:
        await self.session.execute(delete(worker_skill).where(worker_skill.c.worker_id == worker_id))
        if codes:
            lanes = select(category.c.code, category.c.skill_no).where(category.c.code.in_(list(codes)))
            found = {r.code: r.skill_no for r in await self.session.execute(lanes)}
            await self.session.execute(insert(worker_skill), [
                {"worker_id": worker_id, "category_code": code, "skill_no": found[code],
                 "pos": (lon + 400 * found[code], lat), "matchable": False}
                for code in codes
            ])
        await self.refresh_matchable([worker_id])

    async def skills(self, worker_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        stmt = (select(worker_skill.c.worker_id, worker_skill.c.category_code)
                .where(worker_skill.c.worker_id.in_(list(worker_ids))).order_by(worker_skill.c.category_code))
        out: dict[uuid.UUID, list[str]] = {}
        for row in await self.session.execute(stmt):
            out.setdefault(row.worker_id, []).append(row.category_code)
        return out

    async def has_skill(self, worker_id: uuid.UUID, category_code: str) -> bool:
        stmt = select(worker_skill.c.worker_id).where(and_(worker_skill.c.worker_id == worker_id,
                                                           worker_skill.c.category_code == category_code))
        return (await first(self.session, stmt)) is not None

    async def set_shifts(self, worker_id: uuid.UUID, shifts: Sequence[dict[str, Any]]) -> None:
        await self.session.execute(delete(worker_shift).where(worker_shift.c.worker_id == worker_id))
        if shifts:
            await self.session.execute(insert(worker_shift), [{"worker_id": worker_id, **s} for s in shifts])
        await self.session.execute(_SYNC_SCHEDULE, {"id": worker_id})

    async def shifts(self, worker_ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        stmt = (select(worker_shift).where(worker_shift.c.worker_id.in_(list(worker_ids)))
                .order_by(worker_shift.c.worker_id, worker_shift.c.weekday, worker_shift.c.starts))
        return list(await rows(self.session, stmt))

    async def put_exception(self, worker_id: uuid.UUID, values: dict[str, Any]) -> None:
        await self.session.execute(delete(worker_shift_exception).where(
            worker_shift_exception.c.worker_id == worker_id,
            worker_shift_exception.c.on_date == values["on_date"]))
        await self.session.execute(insert(worker_shift_exception).values(worker_id=worker_id, **values))
        await self.session.execute(_SYNC_SCHEDULE, {"id": worker_id})

    async def exceptions(self, worker_ids: Sequence[uuid.UUID]) -> list[RowMapping]:
        stmt = (select(worker_shift_exception).where(worker_shift_exception.c.worker_id.in_(list(worker_ids)))
                .order_by(worker_shift_exception.c.worker_id, worker_shift_exception.c.on_date))
        return list(await rows(self.session, stmt))

    async def add_verification(self, values: dict[str, Any]) -> RowMapping:
        row = await first(self.session, insert(worker_verification).values(**values).returning(worker_verification))
        assert row is not None
        return row

    async def verifications(self, worker_id: uuid.UUID) -> list[RowMapping]:
        stmt = (select(worker_verification).where(worker_verification.c.worker_id == worker_id)
                .order_by(worker_verification.c.verified_on, worker_verification.c.id))
        return list(await rows(self.session, stmt))

    async def release_offer(self, worker_id: uuid.UUID, booking_id: uuid.UUID) -> None:
        await self.session.execute(update(worker).where(worker.c.id == worker_id, worker.c.pending_offer == booking_id)
                                   .values(pending_offer=None))
        await self.refresh_matchable([worker_id])

    async def take_job(self, worker_id: uuid.UUID, booking_id: uuid.UUID) -> None:
        await self.session.execute(update(worker).where(worker.c.id == worker_id).values(
            pending_offer=None, active_jobs=worker.c.active_jobs + 1))
        await self.refresh_matchable([worker_id])

    async def finish_job(self, worker_id: uuid.UUID, *, completed: bool) -> None:
        values: dict[str, Any] = {"active_jobs": func.greatest(worker.c.active_jobs - 1, 0)}
        if completed:
            values |= {"completed_jobs": worker.c.completed_jobs + 1, "last_job_at": func.now()}
        await self.session.execute(update(worker).where(worker.c.id == worker_id).values(**values))
        await self.refresh_matchable([worker_id])

    async def add_rating(self, worker_id: uuid.UUID, value: int) -> None:
        await self.session.execute(update(worker).where(worker.c.id == worker_id).values(
            rating_sum=worker.c.rating_sum + value, rating_count=worker.c.rating_count + 1))
