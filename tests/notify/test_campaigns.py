"""Broadcast campaigns and surveys through the real twilio SDK and the stand-in: audience by area and role
(opted-out left out), throttled ticks on the scheduler, pause/resume/cancel, progress, keypress and
SMS-link survey answers summarised per area."""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from tests.conftest import identity_headers
from tests.notify.conftest import Notify, daytime_in_india
from tests.notify.test_duelists import deliver, person

SMS_TEMPLATE = {"key": "training_invite", "language": "en", "category": "service",
                "body": "GramSetu: panchayat training on {date} at the block office.",
                "dlt_text": "GramSetu: panchayat training on {#var#} at the block office."}
SURVEY_SMS = {"key": "training_survey", "language": "en", "category": "service",
              "body": "GramSetu: rate the panchayat training from 1 to 5: http://127.0.0.1:8000/notify/surveys/{token}",
              "dlt_text": "GramSetu: rate the panchayat training from 1 to 5: http://127.0.0.1:8000/notify/surveys/{#var#}"}
VOICE_TEMPLATE = {"key": "training_call", "language": "en", "category": "service",
                  "body": "GramSetu: thank you for attending the panchayat training.",
                  "dlt_text": "GramSetu: thank you for attending the panchayat training.",
                  "voice_text": "Thank you for attending the panchayat training."}


async def setup_templates(notify: Notify, *docs: dict[str, Any]) -> None:
    notify.clock.set(daytime_in_india(notify.clock.now()))  # campaign messages keep quiet hours
    for i, doc in enumerate(docs):
        r = await notify.client.post("/templates", headers=notify.headers, json={
            **doc, "dlt_entity_id": "1101234567890123456", "dlt_template_id": f"110717000000090{i:04d}",
            "dlt_header": "GRMSTU"})
        assert r.status_code == 201, r.text


async def add_worker(notify: Notify, worker_id: str, phone: str, area: str, role: str) -> None:
    r = await notify.client.put(f"/workers/{worker_id}", headers=notify.headers, json={
        "name": f"Worker {worker_id}", "phone": phone, "area_code": area, "language": "en", "role": role})
    assert r.status_code == 200 and r.json()["role"] == role, r.text


async def run_ticks(notify: Notify) -> int:
    return await notify.app.state.runtime.scheduler.run_due()  # type: ignore[no-any-return]


async def campaign(notify: Notify, campaign_id: str) -> dict[str, Any]:
    r = await notify.client.get(f"/campaigns/{campaign_id}", headers=notify.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def act(notify: Notify, campaign_id: str, action: str) -> dict[str, Any]:
    r = await notify.client.post(f"/campaigns/{campaign_id}/{action}", headers=notify.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_secretaries_of_a_state_throttled_paused_resumed_and_each_sent_once(notify: Notify) -> None:
    await setup_templates(notify, SMS_TEMPLATE)
    secretaries = [(f"gps-{i:02d}", f"+9198110{i:05d}", f"IN-23-04{i % 3}6-22{i % 2}0") for i in range(12)]
    for worker_id, phone, area in secretaries:
        await add_worker(notify, worker_id, phone, area, "panchayat_secretary")
    await add_worker(notify, "gps-elsewhere", "+919822000001", "IN-24-0001-0001", "panchayat_secretary")
    await add_worker(notify, "aww-same-area", "+919822000002", "IN-23-0456-2210", "anganwadi_worker")
    r = await notify.client.post("/opt-outs", headers=notify.headers, json={"phone": secretaries[3][1],
                                                                           "reason": "asked at the block office"})
    assert r.status_code == 201, r.text
    r = await notify.client.post("/campaigns", headers=notify.headers, json={
        "name": "Training invitation", "template_key": "training_invite", "language": "en", "channel": "sms",
        "variables": {"date": "14-12-2026"}, "rate_per_minute": 30,
        "audience": {"kind": "workers", "area_code": "IN-23", "roles": ["panchayat_secretary"]}})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["status"] == "draft" and made["progress"]["recipients"] == 11  # the opted-out one is not selected
    assert made["plan"]["segments_per_message"] == 1 and made["plan"]["seconds_left"] == 22.0
    assert made["plan"]["provider_queue"]["fits"] is True
    cid = made["id"]
    assert (await act(notify, cid, "start"))["status"] == "running"
    await run_ticks(notify)
    assert (await campaign(notify, cid))["progress"]["queued"] == 5  # 30 a minute: 5 per 10 s tick
    await notify.dispatcher.dispatch_once()
    await run_ticks(notify)  # the next tick is not due yet
    assert (await campaign(notify, cid))["progress"]["queued"] == 5
    notify.clock.advance(timedelta(seconds=10))
    await run_ticks(notify)
    paused = await act(notify, cid, "pause")
    assert paused["status"] == "paused" and paused["progress"]["messages"].get("paused") == 5
    assert await notify.dispatcher.dispatch_once() == 0  # held: not handed to the provider
    notify.clock.advance(timedelta(seconds=30))
    await run_ticks(notify)
    assert (await campaign(notify, cid))["progress"]["queued"] == 10
    resumed = await act(notify, cid, "resume")
    assert resumed["status"] == "running" and resumed["progress"]["messages"].get("paused") is None
    await run_ticks(notify)
    done = await campaign(notify, cid)
    assert done["status"] == "done" and done["progress"]["queued"] == 11 and done["progress"]["waiting"] == 0
    await notify.dispatcher.dispatch_once()
    sent = [r["to"] for r in await notify.records()]
    assert sorted(sent) == sorted(p for i, (_, p, _) in enumerate(secretaries) if i != 3)  # each once
    keys = [m["idempotency_key"] for m in (await notify.client.get(
        "/messages", headers=notify.headers, params={"limit": 50})).json()["items"]]
    assert len(keys) == 11 and all(k.startswith(f"campaign:{cid}:") for k in keys)
    listed = (await notify.client.get("/campaigns", headers=notify.headers)).json()
    assert [c["id"] for c in listed["items"]] == [cid]
    assert (await notify.client.post(f"/campaigns/{cid}/start", headers=notify.headers)).status_code == 409
    after = await act(notify, cid, "cancel")  # everyone queued and sent: nothing left to cancel
    assert after["status"] == "cancelled" and "cancelled" not in after["progress"]["messages"]


async def test_mothers_by_age_and_area_then_cancelled(notify: Notify) -> None:
    await setup_templates(notify, SMS_TEMPLATE)
    today = notify.clock.now().date()
    women = [person(date(today.year - age, 1, 15), phones=[f"+9198330{age:05d}"]).model_copy(update={"sex": "female"})
             for age in (19, 24, 31, 44)]
    others = [person(date(today.year - 60, 1, 1), phones=["+919833099999"]),
              person(date(today.year - 1, 1, 1), phones=["+919833088888"])]
    await deliver(notify, [*women, *others])
    r = await notify.client.post("/campaigns", headers=notify.headers, json={
        "name": "Mothers' meeting", "template_key": "training_invite", "language": "en",
        "variables": {"date": "20-12-2026"},
        "rate_per_minute": 6, "audience": {"kind": "persons", "area_code": "IN-23-0456", "min_age_years": 18,
                                           "max_age_years": 45, "sex": "female"}})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert r.json()["progress"]["recipients"] == 4
    await act(notify, cid, "start")
    await run_ticks(notify)
    cancelled = await act(notify, cid, "cancel")
    assert cancelled["status"] == "cancelled" and cancelled["progress"]["messages"] == {"cancelled": 1}
    notify.clock.advance(timedelta(minutes=5))
    await run_ticks(notify)
    await notify.dispatcher.dispatch_once()
    assert await notify.records() == [] and (await campaign(notify, cid))["progress"]["queued"] == 1
    empty = await notify.client.post("/campaigns", headers=notify.headers, json={
        "name": "Nobody", "template_key": "training_invite", "variables": {"date": "20-12-2026"},
        "audience": {"kind": "persons", "area_code": "IN-23-0456", "min_age_years": 90}})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "audience"


async def test_voice_keypress_and_sms_link_surveys_summarised_per_area(notify: Notify) -> None:
    await setup_templates(notify, VOICE_TEMPLATE, SURVEY_SMS)
    blocks = ["IN-23-0456-2210", "IN-23-0456-2211"]
    for i, area in enumerate([blocks[0], blocks[0], blocks[1]]):
        await add_worker(notify, f"sec-{i}", f"+9198440{i:05d}", area + "-100001", "panchayat_secretary")
    r = await notify.client.post("/campaigns", headers=notify.headers, json={
        "name": "Training feedback", "template_key": "training_call", "language": "en", "channel": "voice",
        "rate_per_minute": 60, "survey": {"question": "How useful was the training?", "options": 5},
        "audience": {"kind": "workers", "area_code": "IN-23-0456", "roles": ["panchayat_secretary"]}})
    assert r.status_code == 201, r.text
    voice_id = r.json()["id"]
    await act(notify, voice_id, "start")
    await run_ticks(notify)
    calls: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + 30
    while len(calls) < 3:  # one call a second (the voice rate)
        await notify.dispatcher.dispatch_once()
        calls = await notify.records("call")
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.3)
    for call, digits in zip(sorted(calls, key=lambda c: c["to"]), "452", strict=True):
        pressed = await notify.standin.post(f"/_standin/calls/{call['sid']}/press", json={"digits": digits})
        assert pressed.json()["status"] == 200 and "Thank you" in pressed.json()["twiml"]
    wrong = await notify.standin.post(f"/_standin/calls/{calls[0]['sid']}/press", json={"digits": "7"})
    assert "Thank you" not in wrong.json()["twiml"]  # not an option of a 1-5 survey

    r = await notify.client.post("/campaigns", headers=notify.headers, json={
        "name": "Training feedback by SMS", "template_key": "training_survey", "language": "en", "channel": "sms",
        "rate_per_minute": 60, "survey": {"question": "How useful was the training?", "options": 5},
        "audience": {"kind": "list", "area_code": "IN-23-0456", "recipients": [
            {"phone": "+919855000001", "area_code": blocks[1] + "-100002"},
            {"phone": "+919855000002", "area_code": blocks[1] + "-100003"}]}})
    assert r.status_code == 201, r.text
    assert r.json()["audience"]["listed"] == 2 and "recipients" not in r.json()["audience"]  # phones kept once
    sms_id = r.json()["id"]
    await act(notify, sms_id, "start")
    await run_ticks(notify)
    await notify.dispatcher.dispatch_once()
    texts = {m["to"]: m["body"] for m in await notify.records("message")}
    assert len(texts) == 2, ((await campaign(notify, sms_id))["progress"], await notify.records("call"))
    link = re.search(r"https?://\S+", texts["+919855000001"])
    assert link is not None and "/notify/surveys/" in link.group(0)
    path = urlsplit(link.group(0)).path.removeprefix("/notify")  # the service behind the gateway's /notify
    page = await notify.client.get(path)
    assert page.status_code == 200 and 'href="?answer=5"' in page.text
    answered = await notify.client.get(path, params={"answer": 3})
    assert answered.status_code == 200 and "3 recorded" in answered.text
    assert (await notify.client.get("/surveys/" + "0" * 24)).status_code == 404

    voice = (await notify.client.get(f"/campaigns/{voice_id}/survey", headers=notify.headers)).json()
    assert voice["responses"] == 3
    assert {a["area_code"]: (a["counts"], a["average"]) for a in voice["areas"]} == {
        blocks[0]: ({"4": 1, "5": 1}, 4.5), blocks[1]: ({"2": 1}, 2.0)}
    by_sms = (await notify.client.get(f"/campaigns/{sms_id}/survey", headers=notify.headers,
                                      params={"level": "district"})).json()
    assert by_sms["areas"] == [{"area_code": "IN-23-0456", "responses": 1, "counts": {"3": 1}, "average": 3.0}]


async def test_bad_campaigns_are_refused_naming_the_field(notify: Notify) -> None:
    await setup_templates(notify, SMS_TEMPLATE)
    base = {"name": "x", "template_key": "training_invite", "variables": {"date": "1"},
            "audience": {"kind": "workers", "area_code": "IN-23", "roles": ["panchayat_secretary"]}}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"audience": {"kind": "workers", "area_code": "IN-23", "roles": ["chief"]}}, "roles"),
        ({"audience": {"kind": "workers", "area_code": "IN-23"}}, "audience"),
        ({"survey": {"question": "Useful?"}, "channel": "auto"}, "channel"),
        ({"survey": {"question": "Useful?"}, "channel": "sms"}, "template_key"),
        ({"rate_per_minute": 0}, "rate_per_minute")]
    for change, field in cases:
        r = await notify.client.post("/campaigns", headers=notify.headers, json={**base, **change})
        assert r.status_code == 422 and any(field in e["field"] for e in r.json()["errors"]), (change, r.text)


async def test_an_uploaded_csv_list_is_read_checked_and_becomes_a_campaign_audience(notify: Notify) -> None:
    await setup_templates(notify, SMS_TEMPLATE)
    sheet = ("\ufeffPhone,Area_Code,language,name\r\n"  # Excel's CSV UTF-8: a BOM, capitalised headers, CRLF
             "09812300045,IN-23-0456-2210,hi,सुनीता बाई\r\n"
             "+91 98123 00046,IN-23-0456-2211,,Kamla Devi\r\n"
             "9812300045,IN-23-0456-2210,hi,again\r\n"  # the first phone once more
             ",,,\r\n")
    r = await notify.client.post("/campaigns/recipient-list", headers=notify.headers | {"Content-Type": "text/csv"},
                                 content=sheet.encode())
    assert r.status_code == 200, r.text
    assert r.json() == {"rows": 3, "duplicates": 1, "recipients": [
        {"phone": "+919812300045", "area_code": "IN-23-0456-2210", "language": "hi", "name": "सुनीता बाई"},
        {"phone": "+919812300046", "area_code": "IN-23-0456-2211", "language": None, "name": "Kamla Devi"}]}
    created = await notify.client.post("/campaigns", headers=notify.headers, json={
        "name": "Training invitation", "template_key": "training_invite", "language": "en", "channel": "sms",
        "variables": {"date": "12 December"},
        "audience": {"kind": "list", "area_code": "IN-23-0456", "recipients": r.json()["recipients"]}})
    assert created.status_code == 201, created.text
    assert created.json()["audience"]["listed"] == 2


async def test_a_bad_csv_list_names_each_row_and_column_to_correct(notify: Notify) -> None:
    async def upload(sheet: bytes, **headers: str) -> Any:
        return await notify.client.post("/campaigns/recipient-list", content=sheet,
                                        headers=notify.headers | {"Content-Type": "text/csv"} | headers)

    r = await upload(b"phone,area_code,language\n12,IN-23-0456,hi\n+919812300047,IN-23-0456,xx\n"
                     b"+919812300048,somewhere,en\n+8801712345678,BD-40-87-90,bn\n")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == ["rows.2.phone", "rows.3.language", "rows.4.area_code"]
    assert "3 row(s)" in r.json()["detail"]
    r = await upload(b"mobile,area_code\n+919812300047,IN-23-0456\n")
    assert r.json()["detail"] == "The sheet cannot be read as a recipient list"
    assert r.status_code == 422 and {e["reason"] for e in r.json()["errors"]} == {
        "missing column phone", "unknown column mobile (columns: phone, area_code, language, name)"}
    r = await upload("phone,area_code\n+919812300047,IN-23\n".encode("utf-16"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    narrow = identity_headers(area_scope=["IN-23-0456"])
    r = await notify.client.post("/campaigns/recipient-list", headers=narrow | {"Content-Type": "text/csv"},
                                 content=b"phone,area_code\n+919812300047,IN-23-0456-1\n+919812300048,IN-24\n")
    assert r.status_code == 422 and r.json()["errors"] == [
        {"field": "recipients.1.area_code", "reason": "outside your area scope"}]


async def test_a_recipient_list_over_the_size_limit_is_refused_with_413(notify: Notify, monkeypatch: Any) -> None:
    from services.notify.routes import campaigns as routes

    monkeypatch.setattr(routes, "LIST_MAX_BYTES", 64)
    sheet = b"phone,area_code\n" + b"+919812300047,IN-23-0456\n" * 3
    r = await notify.client.post("/campaigns/recipient-list", content=sheet,
                                 headers=notify.headers | {"Content-Type": "text/csv"})
    assert r.status_code == 413 and "at most 64 bytes" in r.json()["detail"], r.text
    r = await notify.client.post("/campaigns/recipient-list", content=sheet[:60],
                                 headers=notify.headers | {"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
