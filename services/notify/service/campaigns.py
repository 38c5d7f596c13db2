"""Broadcast campaigns and surveys.

* **Audience**, fixed when the campaign is created (so progress has a denominator and a later registry
  change does not move it): persons of an area from the registry replica (``contact``) by age and sex, or
  field functionaries of an area by role (``worker``: every gram panchayat secretary of a division), or an
  uploaded list.  Opted-out phones are left out (and the dispatcher checks again when it sends).
* **Throttled sending**: ``start`` schedules the job ``notify.campaign_tick``; each tick queues the next
  ``rate_per_minute × tick/60`` recipients as messages (key ``campaign:<id>:<seq>``: a tick that runs twice
  after a crash queues nobody twice) and runs again a tick later, until every recipient is queued.
* **Pause / resume / cancel**: pause stops the ticks and holds the campaign's messages not yet handed to
  the provider (status ``paused``, which the dispatcher does not take); resume releases them and ticks
  again; cancel cancels them and stops for good.
* **Progress**: recipients queued and skipped, the campaign's messages by status, time left at its rate.
* **Surveys**: a voice campaign asks its question with a keypress (1..N, through the stand-in's or Twilio's
  ``<Gather>`` callback; 9 still opts out); an SMS campaign sends each recipient a personal link: the
  template holds the public URL ending in ``{token}`` (DLT registers the URL; a variable holds at most 30
  characters), the page ``/notify/surveys/<token>`` is open without login and records the answer.  Answers are
  summarised per area.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel import roles
from kernel.auth import Identity
from kernel.errors import Conflict, NotFound, Problem, ValidationProblem
from kernel.scheduler import Job, schedule
from services.notify import SERVICE
from services.notify.metrics import CAMPAIGN_RECIPIENTS, SURVEY_ANSWERS
from services.notify.repository import campaigns as repo
from services.notify.rules.encoding import encode_info, estimated_cost
from services.notify.rules.planner import plan_send
from services.notify.rules.recipient_list import MAX_ERRORS, read_recipient_list
from services.notify.service.sending import Outgoing, enqueue
from services.notify.service.templates import cost_per_segment, current_template, render_checked
from services.notify.settings import get_notify_settings

TICK_JOB = "notify.campaign_tick"
LINK_VARIABLE = "token"  # the template carries the survey URL (DLT whitelists it) with {token} at its end


def cancel_key(campaign_id: uuid.UUID) -> str:
    return f"campaign:{campaign_id}"


def survey_prompt(survey: dict[str, Any]) -> str:
    return f"{survey['question']} Press 1 to {survey['options']}. Press 9 to stop these messages."


async def visible(session: AsyncSession, identity: Identity, campaign_id: uuid.UUID, *,
                  lock: bool = False) -> RowMapping:
    row = await repo.get(session, campaign_id, lock=lock)
    if row is None or not identity.can_access_area(row["area_code"]):
        raise NotFound("No such campaign in your area.")
    return row


async def _to_run(session: AsyncSession, identity: Identity, campaign_id: uuid.UUID) -> RowMapping:
    """The campaign, locked, when the caller may run campaigns in its area."""
    row = await visible(session, identity, campaign_id, lock=True)
    roles.require(identity, "notify:campaign", row["area_code"])
    return row


def recipient_list(identity: Identity, data: bytes) -> dict[str, Any]:
    """An uploaded CSV of recipients, every row checked (phone read in its area's country, area in the caller's
    scope): the rows as ``audience.recipients``, or a 422 naming each bad row's column."""
    read = read_recipient_list(data)
    errors = list(read.errors)
    for number, recipient in enumerate(read.recipients):
        if not identity.can_access_area(recipient["area_code"]):
            errors.append({"field": f"recipients.{number}.area_code", "reason": "outside your area scope"})
    if errors and not read.rows_with_errors and not read.recipients:
        raise ValidationProblem("The sheet cannot be read as a recipient list", errors=errors[:MAX_ERRORS])
    if errors:
        bad = read.rows_with_errors or len(errors)
        raise ValidationProblem(f"The list has {bad:,} row(s) to correct; the first {min(len(errors), MAX_ERRORS)} "
                                "are named (rows count the header as row 1)", errors=errors[:MAX_ERRORS])
    rows = len(read.recipients) + read.duplicates
    return {"recipients": read.recipients, "rows": rows, "duplicates": read.duplicates}


async def create(session: AsyncSession, identity: Identity, body: Any, now: datetime) -> RowMapping:
    """A draft campaign with its audience selected (nothing is sent before ``start``)."""
    audience = body.audience
    if not identity.can_access_area(audience.area_code):
        raise NotFound("No such area in your scope.")
    roles.require(identity, "notify:campaign", audience.area_code)
    if body.survey is not None and body.channel == "auto":
        raise ValidationProblem("A survey needs channel sms (a link) or voice (a keypress)",
                                errors=[{"field": "channel", "reason": "sms or voice with a survey"}])
    if body.survey is not None and body.channel == "sms":
        tpl = await current_template(session, body.template_key, body.language or "en")
        if LINK_VARIABLE not in tpl["variables"]:
            raise ValidationProblem("An SMS survey's template needs a {token} variable: the end of each "
                                    "recipient's link .../notify/surveys/{token}",
                                    errors=[{"field": "template_key", "reason": "no {token} variable"}])
    row = await repo.create(session, {
        "name": body.name, "template_key": body.template_key, "language": body.language, "channel": body.channel,
        "variables": dict(body.variables),
        # How the recipients were chosen; an uploaded list lives in campaign_recipient only (no phone kept twice).
        "audience": audience.model_dump(mode="json", exclude={"recipients"}) | (
            {"listed": len(audience.recipients)} if audience.kind == "list" else {}),
        "area_code": audience.area_code, "rate_per_minute": body.rate_per_minute,
        "valid_for_minutes": body.valid_for_minutes,
        "survey": body.survey.model_dump() if body.survey is not None else None, "created_by": identity.subject,
        "created_at": now, "updated_at": now})
    if audience.kind == "persons":
        total = await repo.select_contacts(
            session, row["id"], area_code=audience.area_code, on=now.date(),
            min_age_days=round(audience.min_age_years * 365.25) if audience.min_age_years is not None else None,
            max_age_days=round(audience.max_age_years * 365.25) if audience.max_age_years is not None else None,
            sex=audience.sex)
    elif audience.kind == "workers":
        total = await repo.select_workers(session, row["id"], area_code=audience.area_code, roles=audience.roles)
    else:
        for i, person in enumerate(audience.recipients):
            if not identity.can_access_area(person.area_code) or not (
                    person.area_code == audience.area_code or person.area_code.startswith(audience.area_code + "-")):
                raise ValidationProblem("Every listed recipient must be in the campaign's area",
                                        errors=[{"field": f"audience.recipients.{i}.area_code",
                                                 "reason": "outside the campaign's area"}])
        total = await repo.add_listed(session, row["id"], [r.model_dump() for r in audience.recipients])
    if total == 0:
        raise ValidationProblem("Nobody in this audience can be reached (no phone, opted out, or none selected)",
                                errors=[{"field": "audience", "reason": "empty audience"}])
    return await repo.set_fields(session, row["id"], now, total=total)


async def plan_of(session: AsyncSession, row: RowMapping) -> dict[str, Any]:
    """How long the campaign takes at its rate, and whether the provider's queue would hold it all at once."""
    settings = get_notify_settings()
    remaining = row["total"] - row["queued"] - row["skipped"]
    seconds = remaining / row["rate_per_minute"] * 60
    out: dict[str, Any] = {"remaining": remaining, "seconds_left": seconds}
    try:
        tpl = await current_template(session, row["template_key"], row["language"] or "en")
        sample = {name: "x" * 10 for name in tpl["variables"]} | dict(row["variables"])
        info = encode_info(render_checked(tpl, sample))
    except Problem:
        return out
    segments_per_second = min(row["rate_per_minute"] / 60 * info.segments, settings.sender_messages_per_second)
    planned = plan_send(row["total"], info.segments, settings.sender_messages_per_second,
                        settings.provider_queue_validity_seconds)
    out.update(segments_per_message=info.segments, encoding=info.encoding,
               estimated_cost=estimated_cost(info.segments * row["total"], cost_per_segment(row["area_code"])),
               campaign_segments_per_second=segments_per_second, provider_queue=planned.__dict__)
    return out


async def start(session: AsyncSession, identity: Identity, campaign_id: uuid.UUID, now: datetime) -> RowMapping:
    row = await _to_run(session, identity, campaign_id)
    if row["status"] == "running":
        return row
    if row["status"] != "draft":
        raise Conflict(f"The campaign is {row['status']}: resume a paused one; a finished one cannot start again.")
    await schedule(session, SERVICE, kind=TICK_JOB, key=str(row["id"]), due_at=now)
    return await repo.set_fields(session, row["id"], now, status="running", started_at=now)


async def pause(session: AsyncSession, identity: Identity, campaign_id: uuid.UUID, now: datetime) -> RowMapping:
    row = await _to_run(session, identity, campaign_id)
    if row["status"] == "paused":
        return row
    if row["status"] != "running":
        raise Conflict(f"Only a running campaign can be paused (this one is {row['status']}).")
    await repo.hold_messages(session, cancel_key(row["id"]), from_status="pending", to_status="paused", now=now)
    return await repo.set_fields(session, row["id"], now, status="paused")


async def resume(session: AsyncSession, identity: Identity, campaign_id: uuid.UUID, now: datetime) -> RowMapping:
    row = await _to_run(session, identity, campaign_id)
    if row["status"] == "running":
        return row
    if row["status"] != "paused":
        raise Conflict(f"Only a paused campaign can be resumed (this one is {row['status']}).")
    await repo.hold_messages(session, cancel_key(row["id"]), from_status="paused", to_status="pending", now=now)
    await schedule(session, SERVICE, kind=TICK_JOB, key=str(row["id"]), due_at=now)
    return await repo.set_fields(session, row["id"], now, status="running")


async def cancel(session: AsyncSession, identity: Identity, campaign_id: uuid.UUID, now: datetime) -> RowMapping:
    row = await _to_run(session, identity, campaign_id)
    if row["status"] == "cancelled":
        return row
    # A "done" campaign has queued everyone, but its last messages may still wait for the dispatcher.
    await repo.cancel_messages(session, cancel_key(row["id"]), now)
    return await repo.set_fields(session, row["id"], now, status="cancelled", finished_at=now)


async def progress(session: AsyncSession, row: RowMapping) -> dict[str, Any]:
    counts = await repo.message_counts(session, cancel_key(row["id"]))
    finished = sum(counts.get(s, 0) for s in ("delivered", "failed", "undelivered", "expired", "cancelled",
                                               "opted_out", "read", "completed", "busy", "no-answer", "canceled"))
    return {"recipients": row["total"], "queued": row["queued"], "skipped": row["skipped"],
            "waiting": row["total"] - row["queued"] - row["skipped"], "messages": counts,
            "finished": finished, "percent_queued": round(100 * (row["queued"] + row["skipped"]) / row["total"], 1)
            if row["total"] else 100.0}


async def tick(session: AsyncSession, job: Job) -> datetime | None:
    """Queue the next slice of recipients at the campaign's rate; run again a tick later."""
    settings = get_notify_settings()
    now = job.now or job.due_at
    row = await repo.get(session, uuid.UUID(job.key), lock=True)
    if row is None or row["status"] != "running":
        return None  # paused or cancelled: resume schedules the tick again
    slice_size = max(1, math.ceil(row["rate_per_minute"] * settings.campaign_tick_seconds / 60))
    recipients = await repo.waiting(session, row["id"], slice_size)
    marks: list[dict[str, Any]] = []
    survey = row["survey"]
    for r in recipients:
        variables = dict(row["variables"])
        if survey is not None and row["channel"] == "sms":
            variables[LINK_VARIABLE] = r["token"]
        out = Outgoing(
            idempotency_key=f"campaign:{row['id']}:{r['seq']}", template_key=row["template_key"], source="campaign",
            variables=variables, to=r["phone"], area_code=r["area_code"], language=row["language"] or r["language"],
            channel=row["channel"], valid_until=now + timedelta(minutes=row["valid_for_minutes"]),
            cancel_key=cancel_key(row["id"]),
            gather_prompt=survey_prompt(survey) if survey is not None and row["channel"] == "voice" else None)
        try:
            message, _ = await enqueue(session, out, now)
        except Problem as exc:  # no template in the recipient's language, text too long for the DLT slot
            marks.append({"seq": r["seq"], "state": "skipped", "skip_reason": str(exc)[:200]})
            continue
        marks.append({"seq": r["seq"], "state": "queued", "message_id": message["id"]})
    await repo.mark_recipients(session, row["id"], marks)
    queued = sum(1 for m in marks if m["state"] == "queued")
    CAMPAIGN_RECIPIENTS.labels("queued").inc(queued)
    CAMPAIGN_RECIPIENTS.labels("skipped").inc(len(marks) - queued)
    row = await repo.set_fields(session, row["id"], now, queued=row["queued"] + queued,
                                skipped=row["skipped"] + len(marks) - queued)
    if row["queued"] + row["skipped"] >= row["total"]:
        await repo.set_fields(session, row["id"], now, status="done", finished_at=now)
        return None
    return now + timedelta(seconds=settings.campaign_tick_seconds)


async def answer(session: AsyncSession, recipient: RowMapping, value: int, channel: str, now: datetime) -> bool:
    """Record a recipient's survey answer (a later one replaces it); False when it is not a valid option."""
    row = await repo.get(session, recipient["campaign_id"])
    if row is None or row["survey"] is None or not 1 <= value <= int(row["survey"]["options"]):
        return False
    await repo.record_answer(session, {"campaign_id": row["id"], "seq": recipient["seq"], "answer": value,
                                       "channel": channel, "area_code": recipient["area_code"], "answered_at": now})
    SURVEY_ANSWERS.labels(channel).inc()
    return True


async def keypress_answer(session: AsyncSession, message_id: uuid.UUID, digits: str, now: datetime) -> bool:
    """A digit pressed in a survey call; True if it was recorded as an answer."""
    if not digits.strip().isdigit():
        return False
    recipient = await repo.recipient_by_message(session, message_id)
    return recipient is not None and await answer(session, recipient, int(digits.strip()), "voice", now)


async def survey_page(session: AsyncSession, token: str) -> tuple[RowMapping, RowMapping]:
    recipient = await repo.recipient_by_token(session, token)
    row = await repo.get(session, recipient["campaign_id"]) if recipient is not None else None
    if recipient is None or row is None or row["survey"] is None:
        raise NotFound("No such survey link.")
    return recipient, row


async def summary(session: AsyncSession, identity: Identity, campaign_id: uuid.UUID,
                  depth: int) -> tuple[RowMapping, list[dict[str, Any]]]:
    row = await visible(session, identity, campaign_id)
    if row["survey"] is None:
        raise NotFound("This campaign has no survey.")
    areas: dict[str, dict[str, Any]] = {}
    for r in await repo.survey_summary(session, row["id"], depth):
        area = areas.setdefault(r["area"], {"area_code": r["area"], "responses": 0, "counts": {}, "total": 0})
        area["counts"][str(r["answer"])] = int(r["n"])
        area["responses"] += int(r["n"])
        area["total"] += int(r["n"]) * int(r["answer"])
    for area in areas.values():
        area["average"] = round(area.pop("total") / area["responses"], 2)
    return row, list(areas.values())


JOBS = {TICK_JOB: tick}
