"""Adoption and money: aggregates over bookings, departments and workers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import SEPARATOR

# Grouping expressions for the adoption report; the area groups at the district (three segments).
GROUPS = {
    "day": "to_char(b.created_at AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD')",
    "department": "coalesce(b.department_code, '-')",
    "area": "array_to_string((string_to_array(b.area_code, '-'))[1:3], '-')",
    "category": "b.category_code",
    "channel": "b.channel",
}
# The same groups for calls that did not book: no department, and the call centre's channel.
CALL_GROUPS = {
    "day": "to_char(c.created_at AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD')",
    "department": "'-'",
    "area": "array_to_string((string_to_array(c.area_code, '-'))[1:3], '-')",
    "category": "coalesce(c.category_code, '-')",
    "channel": "'call_centre'",
}


def _scope(column: str, scopes: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """"``column`` lies in one of the areas" as index-friendly ranges (the SQL of kernel.areas.within)."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    for i, code in enumerate(scopes):
        parts.append(f"({column} = :s{i} OR ({column} >= :lo{i} AND {column} < :hi{i}))")
        params |= {f"s{i}": code, f"lo{i}": code + SEPARATOR, f"hi{i}": code + chr(ord(SEPARATOR) + 1)}
    return " OR ".join(parts) or "false", params


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def adoption(self, group: str, scopes: Sequence[str], since: datetime, until: datetime) -> list[RowMapping]:
        """Bookings and calls per group. ``calls`` is every call-centre call: the assisted bookings
        plus the calls recorded without one (``marketplace.call``)."""
        scope, params = _scope("b.area_code", scopes)
        call_scope, _ = _scope("c.area_code", scopes)
        stmt = text(
            "SELECT key, sum(bookings)::bigint AS bookings, sum(assisted)::bigint AS assisted, "
            "sum(assisted + unbooked_calls)::bigint AS calls, sum(completed)::bigint AS completed, "
            "sum(cancelled)::bigint AS cancelled, sum(completed_minor)::bigint AS completed_minor FROM ("
            f"SELECT {GROUPS[group]} AS key, count(*) AS bookings, "
            "count(*) FILTER (WHERE b.channel = 'call_centre') AS assisted, "
            "count(*) FILTER (WHERE b.status IN ('completed', 'rated')) AS completed, "
            "count(*) FILTER (WHERE b.status = 'cancelled') AS cancelled, "
            "coalesce(sum(b.price_minor + b.extras_minor) FILTER (WHERE b.status IN ('completed', 'rated')), 0) "
            "AS completed_minor, 0 AS unbooked_calls "
            f"FROM marketplace.booking b WHERE b.created_at >= :since AND b.created_at < :until AND ({scope}) "
            "GROUP BY 1 "
            "UNION ALL "
            f"SELECT {CALL_GROUPS[group]} AS key, 0, 0, 0, 0, 0, count(*) "
            f"FROM marketplace.call c WHERE c.created_at >= :since AND c.created_at < :until AND ({call_scope}) "
            "GROUP BY 1"
            ") t GROUP BY key ORDER BY key")
        result = await self.session.execute(stmt, {"since": since, "until": until, **params})
        return list(result.mappings().all())

    async def departments_without_bookings(self, scopes: Sequence[str], since: datetime,
                                           until: datetime) -> list[RowMapping]:
        scope, params = _scope("d.area_code", scopes)
        stmt = text(
            "SELECT d.code, d.name, d.area_code, (SELECT max(b.created_at) FROM marketplace.booking b "
            " WHERE b.department_code = d.code) AS last_booking_at, "
            " (SELECT count(*) FROM marketplace.office o WHERE o.department_code = d.code) AS offices "
            "FROM marketplace.department d "
            f"WHERE ({scope}) AND NOT EXISTS ("
            " SELECT 1 FROM marketplace.booking b WHERE b.department_code = d.code "
            " AND b.created_at >= :since AND b.created_at < :until) ORDER BY d.code")
        return list((await self.session.execute(stmt, {"since": since, "until": until, **params})).mappings().all())

    async def earnings(self, scopes: Sequence[str], vendor_ids: Sequence[Any] | None, since: datetime,
                       until: datetime, *, limit: int, offset: int) -> tuple[list[RowMapping], int]:
        scope, params = _scope("w.service_area_code", scopes)
        vendor_filter = "AND w.vendor_id = ANY(:vendors)" if vendor_ids is not None else ""
        base = (
            "FROM marketplace.worker w JOIN marketplace.booking b ON b.worker_id = w.id "
            "AND b.status IN ('completed', 'rated') AND b.completed_at >= :since AND b.completed_at < :until "
            f"WHERE ({scope}) {vendor_filter}")
        values = {"since": since, "until": until, "vendors": list(vendor_ids or []), **params}
        total = await self.session.scalar(text(f"SELECT count(DISTINCT w.id) {base}"), values)
        stmt = text(
            "SELECT w.id AS worker_id, w.vendor_id, w.name, count(*) AS jobs, "
            f"sum(b.price_minor + b.extras_minor) AS earned_minor {base} "
            "GROUP BY w.id ORDER BY earned_minor DESC, w.id LIMIT :limit OFFSET :offset")
        rows = (await self.session.execute(stmt, {**values, "limit": limit, "offset": offset})).mappings().all()
        return list(rows), int(total or 0)

    async def idle_workers(self, scopes: Sequence[str], vendor_ids: Sequence[Any] | None, since: datetime, *,
                           limit: int, offset: int) -> tuple[list[RowMapping], int]:
        scope, params = _scope("w.service_area_code", scopes)
        vendor_filter = "AND w.vendor_id = ANY(:vendors)" if vendor_ids is not None else ""
        base = (f"FROM marketplace.worker w WHERE w.status = 'active' "
                f"AND ({scope}) {vendor_filter} "
                "AND (w.last_job_at IS NULL OR w.last_job_at < :since)")
        values = {"since": since, "vendors": list(vendor_ids or []), **params}
        total = await self.session.scalar(text(f"SELECT count(*) {base}"), values)
        stmt = text("SELECT w.id AS worker_id, w.vendor_id, w.name, w.available, w.last_job_at, w.completed_jobs, "
                    f"w.service_area_code {base} ORDER BY w.last_job_at NULLS FIRST, w.id LIMIT :limit OFFSET :offset")
        rows = (await self.session.execute(stmt, {**values, "limit": limit, "offset": offset})).mappings().all()
        return list(rows), int(total or 0)

    async def statement(self, department_code: str, since: datetime, until: datetime) -> list[RowMapping]:
        """Completed jobs and cancellation fees of a department's offices in a period, by office then time."""
        stmt = text(
            "SELECT b.id AS booking_id, b.office_code, b.purchase_ref, b.job_code, b.status, b.area_code, "
            "coalesce(b.completed_at, b.cancelled_at) AS at, b.price_minor, b.extras_minor, "
            "CASE WHEN b.status = 'cancelled' THEN coalesce(b.cancellation_fee_minor, 0) "
            "ELSE b.price_minor + b.extras_minor END AS amount_minor "
            "FROM marketplace.booking b WHERE b.department_code = :dept AND ("
            " (b.status IN ('completed', 'rated') AND b.completed_at >= :since AND b.completed_at < :until) OR "
            " (b.status = 'cancelled' AND coalesce(b.cancellation_fee_minor, 0) > 0 "
            "  AND b.cancelled_at >= :since AND b.cancelled_at < :until)) "
            "ORDER BY b.office_code, at, b.id")
        return list((await self.session.execute(stmt, {"dept": department_code, "since": since,
                                                       "until": until})).mappings().all())

    async def gauges(self, idle_since: datetime, since: datetime) -> dict[str, int]:
        row = (await self.session.execute(text(
            "SELECT (SELECT count(*) FROM marketplace.department d WHERE NOT EXISTS (SELECT 1 FROM "
            "  marketplace.booking b WHERE b.department_code = d.code AND b.created_at >= :since)) AS idle_departments,"
            " (SELECT count(*) FROM marketplace.worker w WHERE w.status = 'active' AND "
            "  (w.last_job_at IS NULL OR w.last_job_at < :idle)) AS idle_workers,"
            " (SELECT count(*) FROM marketplace.worker w WHERE w.available AND w.status = 'active') AS available,"
            " (SELECT count(*) FROM marketplace.booking b WHERE b.status IN ('requested', 'offered')) AS waiting"),
            {"since": since, "idle": idle_since})).mappings().one()
        return dict(row)
