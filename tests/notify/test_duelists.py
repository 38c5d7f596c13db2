"""Due lists from registry events on the India UIP schedule (data), worker lists, reminders, doses."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import uuid
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone
from typing import Any

from contracts.base import Envelope
from contracts.registry import PersonRegistered
from kernel.bus import ensure_streams
from services.notify.demo import schedule_document, template_documents
from services.notify.rules.uip import due_doses, parse_items
from tests.notify.conftest import Notify, daytime_in_india

VILLAGE = "IN-23-0456-2210-123456-654321"
TODAY = date(2026, 12, 7)


def person(birth: date | None, *, area: str = VILLAGE, pregnant: bool = False, phones: list[str] | None = None,
           language: str = "hi", name: str = "Ravi Kumar") -> PersonRegistered:
    return PersonRegistered(
        person_id=uuid.uuid4(), household_id=uuid.uuid4(), area_code=area, full_name=name,
        sex="female" if pregnant else "male", birth_date=birth, birth_date_estimated=False,
        birth_year=birth.year if birth else 1998, disability=None, pregnant=pregnant,
        phones=phones if phones is not None else ["+919812340000"], preferred_language=language, status="active",
        identifier_types=[], identifier_hashes=[], version=1)


async def deliver(notify: Notify, events: list[PersonRegistered]) -> None:
    """Publish registry events on JetStream; notify's consumer applies them through its inbox."""
    runtime = notify.app.state.runtime
    await ensure_streams(runtime.js, runtime.settings)
    for event in events:
        envelope = Envelope(type=event.subject, source="registry", data=event.model_dump(mode="json"))
        await runtime.js.publish(event.subject, envelope.model_dump_json().encode(),
                                 headers={"Nats-Msg-Id": str(envelope.id)})
    consumer = next(c for c in runtime.consumers if c.name == "notify-persons")
    consumer._psub = None  # the stream may have been recreated by another test module
    applied = 0
    deadline = asyncio.get_running_loop().time() + 90  # generous: CI machines can be slow, never a fixed wait
    while applied < len(events):
        applied += await consumer.poll(timeout=1.0)
        assert asyncio.get_running_loop().time() < deadline, f"only {applied} of {len(events)} events arrived"


async def setup(notify: Notify) -> None:
    r = await notify.client.post("/schedules", headers=notify.headers, json=schedule_document())
    assert r.status_code in (200, 201), r.text
    for doc in template_documents():
        r = await notify.client.post("/templates", headers=notify.headers, json=doc)
        assert r.status_code == 201, r.text


async def due_codes(notify: Notify, on: date, area: str = VILLAGE) -> dict[str, dict[str, str]]:
    r = await notify.client.get("/due-lists", headers=notify.headers,
                                params={"area": area, "on": on.isoformat(), "limit": 500})
    assert r.status_code == 200, r.text
    out: dict[str, dict[str, str]] = {}
    for item in r.json()["items"]:
        out.setdefault(item["person_id"], {})[item["code"]] = item["status"]
    return out


async def give(notify: Notify, person_id: uuid.UUID, code: str, on: date) -> dict[str, Any]:
    r = await notify.client.post("/doses", headers=notify.headers,
                                 json={"person_id": str(person_id), "code": code, "given_on": on.isoformat()})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_due_windows_follow_the_uip_schedule(notify: Notify) -> None:
    await setup(notify)
    born = date(2026, 1, 5)
    child = person(born)
    await deliver(notify, [child])
    pid = str(child.person_id)
    assert (await due_codes(notify, born))[pid] == {"bcg": "due", "opv-0": "due", "hepb-0": "due"}
    six_weeks = born + timedelta(weeks=6)
    at_six = (await due_codes(notify, six_weeks))[pid]
    assert at_six == {"bcg": "overdue", "opv-1": "due", "penta-1": "due", "rvv-1": "due", "fipv-1": "due",
                      "pcv-1": "due"}  # OPV-0 (15 days) and the birth Hep-B (24 h) are missed, not listed
    for code in ("bcg", "opv-1", "penta-1", "rvv-1", "fipv-1", "pcv-1"):
        await give(notify, child.person_id, code, six_weeks)
    assert set((await due_codes(notify, born + timedelta(weeks=10)))[pid]) == {"opv-2", "penta-2", "rvv-2"}
    assert pid not in await due_codes(notify, born + timedelta(weeks=8))  # next doses need 4 weeks' gap
    for code in ("opv-2", "penta-2", "rvv-2"):
        await give(notify, child.person_id, code, born + timedelta(weeks=10))
    assert set((await due_codes(notify, born + timedelta(weeks=14)))[pid]) == {"opv-3", "penta-3", "fipv-2",
                                                                               "rvv-3", "pcv-2"}
    nine_months = born + timedelta(days=270)
    assert {"mr-1", "vita-1"} <= set((await due_codes(notify, nine_months))[pid])
    await give(notify, child.person_id, "mr-1", nine_months)
    at_18_months = (await due_codes(notify, born + timedelta(days=540)))[pid]
    assert at_18_months["mr-2"] == "due" and at_18_months["dpt-b1"] == "due"
    assert "mr-2" not in (await due_codes(notify, born + timedelta(days=1900))).get(pid, {})  # past 5 years


async def test_penta_dropped_when_first_dose_came_after_one_year(notify: Notify) -> None:
    await setup(notify)
    born = date(2025, 1, 1)
    late, early = person(born), person(born)
    await deliver(notify, [late, early])
    await give(notify, late.person_id, "penta-1", born + timedelta(days=400))
    await give(notify, early.person_id, "penta-1", born + timedelta(days=300))
    await give(notify, late.person_id, "rvv-1", born + timedelta(days=200))
    listed = await due_codes(notify, born + timedelta(days=460))
    assert "penta-2" not in listed[str(late.person_id)] and "penta-2" in listed[str(early.person_id)]
    assert "rvv-2" in listed[str(late.person_id)]  # RVV-2 at any age once RVV-1 came before one year


async def test_pregnant_women_get_td_doses(notify: Notify) -> None:
    await setup(notify)
    mother = person(date(1998, 3, 1), pregnant=True, name="Sita Devi")
    await deliver(notify, [mother])
    today = datetime.now(timezone.utc).date()
    assert (await due_codes(notify, today))[str(mother.person_id)] == {"td-p1": "due"}
    await give(notify, mother.person_id, "td-p1", today)
    assert str(mother.person_id) not in await due_codes(notify, today + timedelta(days=14))
    assert (await due_codes(notify, today + timedelta(days=28)))[str(mother.person_id)] == {"td-p2": "due"}


async def test_sql_due_list_agrees_with_the_rules(notify: Notify) -> None:
    """The set-based query and rules.uip give the same list for a varied population."""
    await setup(notify)
    items = parse_items(schedule_document()["items"])
    rng = random.Random(7)
    people = [person(TODAY - timedelta(days=rng.randint(0, 2400)), area=rng.choice([VILLAGE, "IN-09-0001"]))
              for _ in range(40)]
    await deliver(notify, people)
    given: dict[uuid.UUID, dict[str, date]] = {}
    for p in people:
        assert p.birth_date is not None
        for item in items:
            if item.target == "child" and rng.random() < 0.4:
                on = p.birth_date + timedelta(days=item.min_age_days + rng.randint(0, 120))
                if on <= TODAY:
                    given.setdefault(p.person_id, {})[item.code] = on
                    await give(notify, p.person_id, item.code, on)
    for on in (TODAY, TODAY - timedelta(days=200)):
        expected = {}
        for p in people:
            assert p.birth_date is not None
            states = due_doses(items, target="child", base=p.birth_date, area_code=p.area_code,
                               given={c: d for c, d in given.get(p.person_id, {}).items() if d <= on}, on=on)
            if states:
                expected[str(p.person_id)] = {s.code: s.status for s in states}
        got = {**await due_codes(notify, on, VILLAGE), **await due_codes(notify, on, "IN-09")}
        # doses recorded after ``on`` do not exist yet on that day: compare only people without later doses
        comparable = {pid for pid in expected.keys() | got.keys()
                      if all(d <= on for d in given.get(uuid.UUID(pid), {}).values())}
        assert {k: v for k, v in got.items() if k in comparable} == \
            {k: v for k, v in expected.items() if k in comparable}
        assert len(comparable) >= 10


async def test_worker_due_list_csv_and_reminders_cancelled_by_a_recorded_dose(notify: Notify) -> None:
    await setup(notify)
    r = await notify.client.put("/workers/aww-1", headers=notify.headers, json={
        "name": "Sunita Devi", "phone": "+919800000101", "area_code": VILLAGE, "language": "hi"})
    assert r.status_code == 200, r.text
    today = datetime.now(timezone.utc).date()
    child = person(today - timedelta(days=44), name="Ravi")
    other = person(today - timedelta(days=44), area="IN-23-0456-2210-999999", name="Mohan")
    await deliver(notify, [child, other])
    listed = await notify.client.get("/workers/aww-1/due-list", headers=notify.headers, params={"format": "csv"})
    assert listed.status_code == 200 and listed.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(listed.text)))
    assert {r["person_id"] for r in rows} == {str(child.person_id)}  # only her own village
    assert {r["code"] for r in rows} >= {"penta-1", "opv-1"} and rows[0]["name"] == "Ravi"
    run = await notify.client.post("/reminders/run", headers=notify.headers)
    assert run.status_code == 200 and run.json()["beneficiary"] >= 4 and run.json()["worker"] == 1
    again = await notify.client.post("/reminders/run", headers=notify.headers)
    assert again.json()["beneficiary"] == 0 and again.json()["worker"] == 0  # once per due date
    messages = (await notify.client.get("/messages", headers=notify.headers, params={"limit": 100})).json()["items"]
    penta = [m for m in messages if "Pentavalent" in m["body"] and m["person_id"] == str(child.person_id)]
    assert len(penta) == 1 and penta[0]["language"] == "hi" and penta[0]["encoding"] == "UCS-2"
    dose = await give(notify, child.person_id, "penta-1", today)
    assert dose == {"person_id": str(child.person_id), "code": "penta-1", "given_on": today.isoformat(),
                    "recorded": True, "reminders_cancelled": 1}
    assert (await notify.message(penta[0]["id"]))["status"] == "cancelled"
    assert (await give(notify, child.person_id, "penta-1", today))["recorded"] is False
    notify.clock.set(daytime_in_india(notify.clock.now()))  # the reminders wait for daytime in India
    await notify.dispatcher.dispatch_once()
    sent = [r["body"] for r in await notify.records()]
    assert any("Mohan" in b and "Pentavalent" in b for b in sent)  # the other child's reminder still goes
    assert not [b for b in sent if "Ravi" in b and "Pentavalent" in b]


async def test_a_person_who_prefers_voice_is_called_not_texted(notify: Notify) -> None:
    await setup(notify)
    mother = person(date(1998, 3, 1), pregnant=True, name="Sita Devi", phones=["+919876500001"])
    await deliver(notify, [mother])
    r = await notify.client.put(f"/contacts/{mother.person_id}/preferences", headers=notify.headers,
                                json={"prefers_voice": True})
    assert r.status_code == 200 and r.json()["prefers_voice"] is True, r.text
    sent = await notify.client.post("/messages", headers=notify.headers, json={
        "idempotency_key": f"voice-{uuid.uuid4().hex}", "template_key": "vaccination_due",
        "person_id": str(mother.person_id), "urgent": True,
        "variables": {"child": "Sita", "vaccine": "Td", "date": "12-01-2027"}})
    assert sent.status_code == 201 and sent.json()["channel"] == "voice", sent.text
    await notify.dispatcher.dispatch_once()
    calls = await notify.records("call")
    assert [c["to"] for c in calls] == ["+919876500001"] and 'language="hi-IN"' in calls[0]["params"]["Twiml"]
    assert await notify.records() == []


async def call_for(notify: Notify, who: PersonRegistered, variables: dict[str, str]) -> ET.Element:
    """Deliver ``who`` (who prefers calls), send them a reminder, and return the TwiML the stand-in received."""
    await deliver(notify, [who])
    r = await notify.client.put(f"/contacts/{who.person_id}/preferences", headers=notify.headers,
                                json={"prefers_voice": True})
    assert r.status_code == 200, r.text
    sent = await notify.client.post("/messages", headers=notify.headers, json={
        "idempotency_key": f"voice-{uuid.uuid4().hex}", "template_key": "vaccination_due",
        "person_id": str(who.person_id), "urgent": True, "variables": variables})
    assert sent.status_code == 201 and sent.json()["channel"] == "voice", sent.text
    deadline = asyncio.get_running_loop().time() + 10
    while not (calls := [c for c in await notify.records("call") if c["to"] == who.phones[0]]):
        assert asyncio.get_running_loop().time() < deadline, "the call was never placed"
        await notify.dispatcher.dispatch_once()
        await asyncio.sleep(0.2)  # voice calls go at 1 a second (the account's token bucket)
    assert len(calls) == 1
    return ET.fromstring(calls[0]["params"]["Twiml"])  # noqa: S314 (TwiML we made, from our own stand-in)


async def test_bengali_is_spoken_in_bn_in_and_a_recording_is_played_when_there_is_one(notify: Notify) -> None:
    await setup(notify)
    mother = person(date(1997, 5, 1), pregnant=True, name="Rupa Begum", phones=["+8801700000301"], language="bn",
                    area="BD-40-87-90-54-08")
    twiml = await call_for(notify, mother, {"child": "Rupa", "vaccine": "Td", "date": "12-01-2027"})
    said = twiml.find("Say")
    assert said is not None and said.get("language") == "bn-IN" and twiml.find("Play") is None
    assert said.text == "Rupa-এর Td টিকা 12-01-2027 তারিখে দেওয়া হবে। অনুগ্রহ করে অঙ্গনওয়াড়ি কেন্দ্রে আসুন।"
    gather = twiml.find("Gather")  # the keypress that stops these calls, asked in the same language
    assert gather is not None and gather.get("numDigits") == "1" and gather[0].get("language") == "bn-IN"
    # A recorded announcement in a new version of the Hindi template is played instead of synthesised speech.
    recording = "https://media.gramsetu.example/uip/vaccination_due_hi.mp3"
    hindi = next(d for d in template_documents() if (d["key"], d["language"]) == ("vaccination_due", "hi"))
    r = await notify.client.post("/templates", headers=notify.headers, json=hindi | {"audio_url": recording})
    assert r.status_code == 201 and r.json()["version"] == 2 and r.json()["audio_url"] == recording, r.text
    father = person(date(1990, 5, 1), name="Mohan Lal", phones=["+919876500002"])
    twiml = await call_for(notify, father, {"child": "Ravi", "vaccine": "MR-1", "date": "12-01-2027"})
    played = twiml.find("Play")
    assert played is not None and played.text == recording and twiml.find("Say") is None
    assert [e.tag for e in twiml] == ["Play", "Gather"] and twiml[1][0].get("language") == "hi-IN"


async def test_a_new_schedule_version_changes_the_due_lists(notify: Notify) -> None:
    """Publishing a version makes it the active one (the lists are rebuilt under it); publishing an
    older version again makes that one active again."""
    await setup(notify)
    born = date(2026, 1, 5)
    child = person(born)
    await deliver(notify, [child])
    pid, six_weeks, nine_months = str(child.person_id), born + timedelta(weeks=6), born + timedelta(days=270)
    v1 = schedule_document()
    assert "pcv-1" in (await due_codes(notify, six_weeks))[pid]
    at_nine = set((await due_codes(notify, nine_months))[pid])
    assert {"pcv-1", "mr-1"} <= at_nine and "je-1" not in at_nine  # PCV-1 overdue (not given), no JE here
    # Version 2: Madhya Pradesh (IN-23) starts JE and stops PCV; BCG's window ends at 6 weeks (not a year).
    v2_items = []
    for item in v1["items"]:
        prefixes = item.get("area_prefixes")
        if item["code"].startswith("pcv"):
            prefixes = [p for p in prefixes if p != "IN-23"]
        elif item["code"].startswith("je"):
            prefixes = [*prefixes, "IN-23"]
        changed = item | ({"area_prefixes": prefixes} if prefixes is not None else {})
        v2_items.append(changed | ({"upper_age_days": 41} if item["code"] == "bcg" else {}))
    v2 = v1 | {"version": "in-uip-2026.1", "name": "India UIP, JE in Madhya Pradesh", "items": v2_items}
    r = await notify.client.post("/schedules", headers=notify.headers, json=v2)
    assert r.status_code == 201 and r.json()["active"] is True, r.text
    listed = (await notify.client.get("/schedules", headers=notify.headers)).json()
    assert [(s["version"], s["active"]) for s in listed] == [("in-uip-2024.1", False), ("in-uip-2026.1", True)]
    at_six = (await due_codes(notify, six_weeks))[pid]
    assert "pcv-1" not in at_six and "bcg" not in at_six and "penta-1" in at_six
    at_nine = set((await due_codes(notify, nine_months))[pid])
    assert "je-1" in at_nine and "pcv-1" not in at_nine and "mr-1" in at_nine
    page = await notify.client.get("/due-lists", headers=notify.headers,
                                   params={"area": VILLAGE, "on": nine_months.isoformat()})
    assert page.json()["schedule_version"] == "in-uip-2026.1"
    # The old version published again (200: it exists) is the active one again, and so are its lists.
    r = await notify.client.post("/schedules", headers=notify.headers, json=v1)
    assert r.status_code == 200, r.text
    assert "pcv-1" in (await due_codes(notify, six_weeks))[pid]
    assert "je-1" not in (await due_codes(notify, nine_months))[pid]
