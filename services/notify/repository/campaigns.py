"""Campaigns, their recipients (selected from the local replicas or uploaded) and survey answers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.areas import within_any
from services.notify.models import campaign, campaign_recipient, message, opt_out, survey_response
from services.notify.repository.common import all_rows, one_or_none, page


async def create(session: AsyncSession, values: dict[str, Any]) -> RowMapping:
    row = await one_or_none(session, insert(campaign).values(**values).returning(*campaign.c))
    assert row is not None
    return row


async def get(session: AsyncSession, campaign_id: uuid.UUID, *, lock: bool = False) -> RowMapping | None:
    stmt = select(campaign).where(campaign.c.id == campaign_id)
    return await one_or_none(session, stmt.with_for_update() if lock else stmt)


async def set_fields(session: AsyncSession, campaign_id: uuid.UUID, now: datetime, **values: Any) -> RowMapping:
    row = await one_or_none(session, update(campaign).where(campaign.c.id == campaign_id)
                            .values(updated_at=now, **values).returning(*campaign.c))
    assert row is not None
    return row


async def list_page(session: AsyncSession, *, area_scope: list[str], limit: int,
                    offset: int) -> tuple[list[RowMapping], int]:
    stmt = select(campaign).where(within_any(campaign.c.area_code, area_scope))
    return await page(session, stmt.order_by(campaign.c.created_at.desc(), campaign.c.id.desc()), limit=limit,
                      offset=offset)


# The same opt-out test for every way in: nobody who opted out is selected (the dispatcher checks again).
_NOT_OPTED_OUT = "NOT EXISTS (SELECT 1 FROM notify.opt_out o WHERE o.phone = {phone})"
# 24 hex digits of a random UUID (92 random bits): short enough for a DLT variable (at most 30 characters).
_TOKEN = "left(replace(CAST(gen_random_uuid() AS text), '-', ''), 24)"  # noqa: S105 (SQL making a random token)


async def select_contacts(session: AsyncSession, campaign_id: uuid.UUID, *, area_code: str, on: date,
                          min_age_days: int | None, max_age_days: int | None, sex: str | None) -> int:
    """Active persons of the area (registry replica) with a phone, by age and sex; returns how many."""
    result = await session.execute(text(
        "INSERT INTO notify.campaign_recipient (campaign_id, seq, phone, person_id, area_code, language, name, token) "
        "SELECT :campaign, row_number() OVER (ORDER BY c.area_code, c.person_id) - 1, c.phones[1], c.person_id, "
        f"c.area_code, c.preferred_language, c.full_name, {_TOKEN} FROM notify.contact c "
        "WHERE c.status = 'active' AND cardinality(c.phones) > 0 "
        "AND (c.area_code = :area OR (c.area_code >= :lo AND c.area_code < :hi)) "
        "AND (CAST(:min_age AS int) IS NULL OR c.birth_date <= CAST(:on AS date) - CAST(:min_age AS int)) "
        "AND (CAST(:max_age AS int) IS NULL OR c.birth_date > CAST(:on AS date) - CAST(:max_age AS int)) "
        "AND (CAST(:sex AS text) IS NULL OR c.sex = :sex) "
        f"AND {_NOT_OPTED_OUT.format(phone='c.phones[1]')} "
        "ON CONFLICT (campaign_id, phone) DO NOTHING"),
        {"campaign": campaign_id, "area": area_code, "lo": area_code + "-", "hi": area_code + ".", "on": on,
         "min_age": min_age_days, "max_age": max_age_days, "sex": sex})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def select_workers(session: AsyncSession, campaign_id: uuid.UUID, *, area_code: str,
                         roles: list[str]) -> int:
    """Field functionaries of the area by role (every gram panchayat secretary of a division)."""
    result = await session.execute(text(
        "INSERT INTO notify.campaign_recipient (campaign_id, seq, phone, area_code, language, name, token) "
        "SELECT :campaign, row_number() OVER (ORDER BY w.area_code, w.id) - 1, w.phone, w.area_code, w.language, "
        f"w.name, {_TOKEN} FROM notify.worker w "
        "WHERE w.role = ANY(:roles) AND (w.area_code = :area OR (w.area_code >= :lo AND w.area_code < :hi)) "
        f"AND {_NOT_OPTED_OUT.format(phone='w.phone')} "
        "ON CONFLICT (campaign_id, phone) DO NOTHING"),
        {"campaign": campaign_id, "area": area_code, "lo": area_code + "-", "hi": area_code + ".", "roles": roles})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def add_listed(session: AsyncSession, campaign_id: uuid.UUID, rows: Sequence[dict[str, Any]]) -> int:
    """An uploaded list (already checked); opted-out phones and repeats are left out."""
    if not rows:
        return 0
    phones = [r["phone"] for r in rows]
    out = {r[0] for r in await session.execute(select(opt_out.c.phone).where(opt_out.c.phone.in_(phones)))}
    values = [{"campaign_id": campaign_id, "seq": i, "phone": r["phone"], "area_code": r["area_code"],
               "language": r.get("language"), "name": r.get("name"), "token": uuid.uuid4().hex[:24]}
              for i, r in enumerate(rows) if r["phone"] not in out]
    if not values:
        return 0
    result = await session.execute(pg_insert(campaign_recipient).on_conflict_do_nothing(
        constraint="uq_campaign_recipient_phone").returning(campaign_recipient.c.seq), values)
    return len(result.all())


async def waiting(session: AsyncSession, campaign_id: uuid.UUID, limit: int) -> Sequence[RowMapping]:
    return await all_rows(session, select(campaign_recipient).where(
        campaign_recipient.c.campaign_id == campaign_id, campaign_recipient.c.state == "waiting",
    ).order_by(campaign_recipient.c.seq).limit(limit).with_for_update(skip_locked=True))


async def mark_recipients(session: AsyncSession, campaign_id: uuid.UUID, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(text(
            "UPDATE notify.campaign_recipient r SET state = x.state, message_id = x.message_id, "
            "skip_reason = x.skip_reason FROM unnest(CAST(:seqs AS int[]), CAST(:states AS text[]), "
            "CAST(:messages AS uuid[]), CAST(:reasons AS text[])) AS x(seq, state, message_id, skip_reason) "
            "WHERE r.campaign_id = :campaign AND r.seq = x.seq"),
            {"campaign": campaign_id, "seqs": [r["seq"] for r in rows], "states": [r["state"] for r in rows],
             "messages": [r.get("message_id") for r in rows], "reasons": [r.get("skip_reason") for r in rows]})


async def hold_messages(session: AsyncSession, cancel_key: str, *, from_status: str, to_status: str,
                        now: datetime) -> int:
    """Move the campaign's queued messages between pending and paused (the dispatcher takes pending only)."""
    result = await session.execute(update(message).where(
        message.c.cancel_key == cancel_key, message.c.status == from_status,
    ).values(status=to_status, updated_at=now).returning(message.c.id))
    return len(result.all())


async def cancel_messages(session: AsyncSession, cancel_key: str, now: datetime) -> int:
    result = await session.execute(update(message).where(
        message.c.cancel_key == cancel_key, message.c.status.in_(["pending", "paused"]),
    ).values(status="cancelled", final_at=now, updated_at=now).returning(message.c.id))
    return len(result.all())


async def message_counts(session: AsyncSession, cancel_key: str) -> dict[str, int]:
    rows = await session.execute(select(message.c.status, func.count()).where(message.c.cancel_key == cancel_key)
                                 .group_by(message.c.status))
    return {r[0]: int(r[1]) for r in rows}


async def recipient_by_message(session: AsyncSession, message_id: uuid.UUID) -> RowMapping | None:
    return await one_or_none(session, select(campaign_recipient).where(campaign_recipient.c.message_id == message_id))


async def recipient_by_token(session: AsyncSession, token: str) -> RowMapping | None:
    return await one_or_none(session, select(campaign_recipient).where(campaign_recipient.c.token == token))


async def record_answer(session: AsyncSession, values: dict[str, Any]) -> None:
    stmt = pg_insert(survey_response).values(**values)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["campaign_id", "seq"],
        set_={"answer": stmt.excluded.answer, "channel": stmt.excluded.channel,
              "answered_at": stmt.excluded.answered_at}))


async def survey_summary(session: AsyncSession, campaign_id: uuid.UUID, depth: int) -> Sequence[RowMapping]:
    """Answers per area cut at ``depth`` parts of the code (3: district, 4: block), count per answer."""
    area = func.array_to_string(func.trim_array(func.string_to_array(survey_response.c.area_code, "-"),
                                                func.greatest(func.cardinality(
                                                    func.string_to_array(survey_response.c.area_code, "-"))
                                                    - depth, 0)), "-")
    return await all_rows(session, select(area.label("area"), survey_response.c.answer, func.count().label("n"))
                          .where(survey_response.c.campaign_id == campaign_id)
                          .group_by(area, survey_response.c.answer).order_by(area, survey_response.c.answer))
