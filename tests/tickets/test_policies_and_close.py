"""Automatic close, and live clocks that follow a changed SLA policy or business calendar (injected clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from services.tickets.service.closing import AUTO_CLOSE_JOB
from services.tickets.service.sla.clocks import BREACH_JOB
from services.tickets.service.sla.recompute import RECOMPUTE_JOB
from services.tickets.settings import get_tickets_settings
from tests.tickets.conftest import ADMIN, BLOCK_AGENT, DISTRICT_AGENT, IST, Desks, worker


async def _sla(desks: Desks, ticket_id: str) -> list[dict[str, Any]]:
    r = await desks.client.get(f"/{ticket_id}/sla", headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _clock(clocks: list[dict[str, Any]], level_seq: int, kind: str) -> dict[str, Any]:
    return next(c for c in clocks if c["level_seq"] == level_seq and c["kind"] == kind)


def _deadline(clock: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(clock["deadline_at"])


async def _job_due(desks: Desks, kind: str, key: str) -> datetime | None:
    async with desks.client.app.state.runtime.sessionmaker() as session:  # type: ignore[attr-defined]
        return (await session.execute(text("SELECT due_at FROM tickets.scheduled_job WHERE kind = :k AND key = :key"),
                                      {"k": kind, "key": key})).scalar_one_or_none()


async def _resolved(desks: Desks) -> dict[str, Any]:
    ticket = await desks.raise_ticket()
    await desks.client.post(f"/{ticket['id']}/assignment", json={"agent": "block-agent"}, headers=BLOCK_AGENT)
    r = await desks.act(ticket["id"], "resolve", BLOCK_AGENT, note="Updated the app")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------------- auto close
async def test_a_resolved_ticket_closes_on_its_own_after_the_desks_days(desks: Desks) -> None:
    ticket = await _resolved(desks)  # Monday 11:00; default 7 days
    await desks.advance(timedelta(days=7) - timedelta(seconds=1))
    assert await desks.run_due(AUTO_CLOSE_JOB) == 0
    desks.clock.advance(timedelta(seconds=1))
    assert await desks.run_due(AUTO_CLOSE_JOB) == 1
    after = await desks.get(ticket["id"])
    resolved_at = datetime.fromisoformat(after["resolved_at"])
    assert after["status"] == "closed" and datetime.fromisoformat(after["closed_at"]) == resolved_at + timedelta(days=7)
    timeline = (await desks.client.get(f"/{ticket['id']}/timeline", headers=worker())).json()["items"]
    assert timeline[-1]["kind"] == "status" and timeline[-1]["to_status"] == "closed"
    assert timeline[-1]["actor"] == "system" and timeline[-1]["data"]["cause"] == "auto_close"
    # The appeal still works on a ticket closed on its own.
    r = await desks.client.post(f"/{ticket['id']}/rating", json={"rating": "poor"}, headers=worker())
    assert r.status_code == 200 and r.json()["level"] == "district"


async def test_reopening_cancels_the_close_and_a_second_resolution_counts_afresh(desks: Desks) -> None:
    ticket = await _resolved(desks)
    tid = ticket["id"]
    desks.clock.advance(timedelta(days=3))
    assert (await desks.act(tid, "reopen", worker())).status_code == 200
    assert await _job_due(desks, AUTO_CLOSE_JOB, tid) is None
    await desks.client.post(f"/{tid}/assignment", json={"agent": "block-agent"}, headers=BLOCK_AGENT)
    assert (await desks.act(tid, "resolve", BLOCK_AGENT)).status_code == 200
    desks.clock.advance(timedelta(days=5))  # 8 days after the first resolution, 5 after the second
    assert await desks.run_due(AUTO_CLOSE_JOB) == 0
    assert (await desks.get(tid))["status"] == "resolved"
    desks.clock.advance(timedelta(days=2))
    assert await desks.run_due(AUTO_CLOSE_JOB) == 1
    assert (await desks.get(tid))["status"] == "closed"


async def test_a_desks_days_apply_to_its_resolved_tickets_and_zero_means_never(desks: Desks) -> None:
    ticket = await _resolved(desks)
    r = await desks.client.patch(f"/desks/{desks.ids['block']}", json={"auto_close_days": 2}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["auto_close_days"] == 2
    resolved_at = datetime.fromisoformat(ticket["resolved_at"])
    assert await _job_due(desks, AUTO_CLOSE_JOB, ticket["id"]) == resolved_at + timedelta(days=2)
    r = await desks.client.patch(f"/desks/{desks.ids['block']}", json={"auto_close_days": 0}, headers=ADMIN)
    assert r.status_code == 200
    assert await _job_due(desks, AUTO_CLOSE_JOB, ticket["id"]) is None
    desks.clock.advance(timedelta(days=30))
    assert await desks.run_due(AUTO_CLOSE_JOB) == 0 and (await desks.get(ticket["id"]))["status"] == "resolved"
    # Back to the default: due again seven days after its resolution (already past, so it closes now).
    r = await desks.client.patch(f"/desks/{desks.ids['block']}", json={"auto_close_days": None}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["auto_close_days"] is None
    assert await desks.run_due(AUTO_CLOSE_JOB) == 1 and (await desks.get(ticket["id"]))["status"] == "closed"
    for bad in ({"auto_close_days": -1}, {"auto_close_days": 400}, {"active": None}):
        r = await desks.client.patch(f"/desks/{desks.ids['block']}", json=bad, headers=ADMIN)
        assert r.status_code == 422, bad
    r = await desks.client.patch(f"/desks/{desks.ids['block']}", json={"auto_close_days": 3}, headers=BLOCK_AGENT)
    assert r.status_code == 403


# ------------------------------------------------------------------------------------ policy changes
async def test_a_changed_policy_moves_live_deadlines_and_keeps_the_history_of_levels_left(desks: Desks) -> None:
    escalated = await desks.raise_ticket()
    r = await desks.client.post(f"/{escalated['id']}/escalations", json={"reason": "district"}, headers=BLOCK_AGENT)
    assert r.status_code == 200
    waiting = await desks.raise_ticket()
    await desks.client.post(f"/{waiting['id']}/assignment", json={"agent": "block-agent"}, headers=BLOCK_AGENT)
    assert (await desks.act(waiting["id"], "wait_on_reporter", BLOCK_AGENT)).status_code == 200
    running = await desks.raise_ticket()  # Monday 11:00, block targets 60 / 240 business minutes
    assert _deadline(_clock(await _sla(desks, running["id"]), 0, "first_response")) == datetime(
        2026, 12, 7, 12, 0, tzinfo=IST)
    desks.clock.advance(timedelta(minutes=10))
    r = await desks.client.put("/sla-policies", json={"level": "block", "category": "*", "first_response_minutes": 120,
                                                      "resolution_minutes": 480}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["version"] == 2
    policy_id = r.json()["id"]
    # Running: the new target counted from when the clock started; the breach job moved with it.
    first = _clock(await _sla(desks, running["id"]), 0, "first_response")
    assert first["target_seconds"] == 7200 and first["policy_version"] == 2
    assert _deadline(first) == datetime(2026, 12, 7, 13, 0, tzinfo=IST)
    assert await _job_due(desks, BREACH_JOB, f"{running['id']}:0:first_response") == _deadline(first)
    # Paused: the new target, still paused; escalated: the block clocks keep version 1, the district's is untouched.
    paused = _clock(await _sla(desks, waiting["id"]), 0, "resolution")
    assert paused["target_seconds"] == 480 * 60 and paused["paused"] and paused["policy_version"] == 2
    left = await _sla(desks, escalated["id"])
    assert _clock(left, 0, "resolution")["target_seconds"] == 240 * 60 and _clock(left, 0, "resolution")[
        "policy_version"] == 1
    assert _clock(left, 1, "resolution")["target_seconds"] == 480 * 60  # the district's own policy
    desks.clock.set(datetime(2026, 12, 7, 12, 30, tzinfo=IST))
    assert await desks.run_due() == 0  # the old deadline passed: nothing
    desks.clock.set(datetime(2026, 12, 7, 13, 0, tzinfo=IST))
    # Due now: this ticket's moved first response, and the escalated one's district first response (120 min).
    assert await desks.run_due() == 2 and (await desks.get(running["id"]))["level"] == "district"
    versions = (await desks.client.get(f"/sla-policies/{policy_id}/versions", headers=ADMIN)).json()
    assert [(v["version"], v["first_response_minutes"], v["changed_by"]) for v in versions] == [
        (1, 60, "admin-1"), (2, 120, "admin-1")]


async def test_a_shorter_target_breaches_at_the_change_not_in_the_past(desks: Desks) -> None:
    ticket = await desks.raise_ticket()
    desks.clock.advance(timedelta(minutes=45))
    r = await desks.client.put("/sla-policies", json={"level": "block", "category": "app_problem",
                                                      "first_response_minutes": 30, "resolution_minutes": 240},
                               headers=ADMIN)
    assert r.status_code == 200 and r.json()["version"] == 1  # a new, category-specific policy
    first = _clock(await _sla(desks, ticket["id"]), 0, "first_response")
    assert _deadline(first) == desks.clock.now() and first["target_seconds"] == 1800
    assert await desks.run_due() == 1
    assert (await desks.get(ticket["id"]))["level"] == "district"
    # The same targets again make no new version.
    again = await desks.client.put("/sla-policies", json={"level": "block", "category": "app_problem",
                                                          "first_response_minutes": 30, "resolution_minutes": 240},
                                   headers=ADMIN)
    assert again.json()["version"] == 1
    # A '*' change does not touch the categories that have their own policy.
    other = await desks.raise_ticket()
    r = await desks.client.put("/sla-policies", json={"level": "block", "category": "*", "first_response_minutes": 90,
                                                      "resolution_minutes": 300}, headers=ADMIN)
    assert r.status_code == 200
    assert _clock(await _sla(desks, other["id"]), 0, "first_response")["target_seconds"] == 1800


@pytest.fixture
def small_batches() -> Iterator[None]:
    settings = get_tickets_settings()
    before = settings.recompute_batch
    settings.recompute_batch = 2
    yield
    settings.recompute_batch = before


async def test_a_large_recompute_goes_on_in_batches_on_the_scheduler(desks: Desks, small_batches: None) -> None:
    tickets = [await desks.raise_ticket() for _ in range(3)]  # six live block clocks
    r = await desks.client.put("/sla-policies", json={"level": "block", "category": "*", "first_response_minutes": 90,
                                                      "resolution_minutes": 300}, headers=ADMIN)
    assert r.status_code == 200
    targets = [c["target_seconds"] for t in tickets for c in await _sla(desks, t["id"]) if c["level_seq"] == 0]
    assert sorted(targets).count(90 * 60) + sorted(targets).count(300 * 60) == 2  # the first batch, in the request
    runs = 0
    while ran := await desks.run_due(RECOMPUTE_JOB):  # each poll runs the next batch, one transaction each
        runs += ran
    assert runs >= 2
    targets = sorted([c["target_seconds"] for t in tickets for c in await _sla(desks, t["id"])])
    assert targets == [90 * 60] * 3 + [300 * 60] * 3
    assert await _job_due(desks, RECOMPUTE_JOB, f"policy:{r.json()['id']}") is None


# --------------------------------------------------------------------------------- calendar changes
async def test_editing_working_hours_and_withdrawing_a_holiday_move_running_deadlines(desks: Desks) -> None:
    desks.clock.set(datetime(2026, 12, 11, 17, 30, tzinfo=IST))  # Friday 17:30; 12th is the 2nd Saturday
    await desks.client.put(f"/calendars/{desks.calendar_id}/holidays",
                           json={"day": "2026-12-14", "name": "Declared holiday"}, headers=ADMIN)
    ticket = await desks.raise_ticket()
    first = lambda clocks: _deadline(_clock(clocks, 0, "first_response"))  # noqa: E731
    assert first(await _sla(desks, ticket["id"])) == datetime(2026, 12, 15, 10, 30, tzinfo=IST)
    r = await desks.client.delete(f"/calendars/{desks.calendar_id}/holidays/2026-12-14", headers=ADMIN)
    assert r.status_code == 204
    assert first(await _sla(desks, ticket["id"])) == datetime(2026, 12, 14, 10, 30, tzinfo=IST)
    assert (await desks.client.delete(f"/calendars/{desks.calendar_id}/holidays/2026-12-14",
                                      headers=ADMIN)).status_code == 404
    # Offices open at 09:00 from now on, and Saturdays are all off.
    hours = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
    r = await desks.client.patch(f"/calendars/{desks.calendar_id}", json={"working_hours": hours,
                                                                         "saturdays_off": [1, 2, 3, 4, 5]},
                                 headers=ADMIN)
    assert r.status_code == 200 and r.json()["version"] == 4  # created, holiday added, withdrawn, edited
    assert first(await _sla(desks, ticket["id"])) == datetime(2026, 12, 14, 9, 30, tzinfo=IST)
    assert await _job_due(desks, BREACH_JOB, f"{ticket['id']}:0:first_response") == datetime(
        2026, 12, 14, 9, 30, tzinfo=IST)
    for bad in ({"timezone": None}, {"working_hours": {"mon": [["18:00", "09:00"]]}}, {"timezone": "Mars/Base"},
                {"parent_id": desks.calendar_id}):
        r = await desks.client.patch(f"/calendars/{desks.calendar_id}", json=bad, headers=ADMIN)
        assert r.status_code == 422, (bad, r.text)
    assert (await desks.client.patch(f"/calendars/{desks.calendar_id}", json={"saturdays_off": []},
                                     headers=DISTRICT_AGENT)).status_code == 403
