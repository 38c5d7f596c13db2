"""Sending through the real twilio SDK against the stand-in: the issue's proof list for SMS and voice."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from twilio.request_validator import RequestValidator

from services.notify.service.dispatch import Rates
from services.notify.settings import get_notify_settings
from tests.notify.conftest import AUTH_TOKEN, VARIABLES, Notify, add_templates, key, send

IST = ZoneInfo("Asia/Kolkata")


async def sent_to(notify: Notify, to: str) -> list[dict]:
    return [r for r in await notify.records() if r["to"] == to]


async def test_send_is_delivered_and_callbacks_move_status_forward(notify: Notify) -> None:
    await add_templates(notify)
    r = await send(notify, urgent=True)
    assert r.status_code == 201, r.text
    message = r.json()
    assert message["status"] == "pending" and message["encoding"] == "GSM-7" and message["segments"] == 1
    assert message["to_masked"] == "+91******5678"
    assert await notify.dispatcher.dispatch_once() == 1
    at_provider = await sent_to(notify, "+919812345678")
    assert len(at_provider) == 1 and at_provider[0]["body"].startswith("Dear Sunita, Ravi is due for Penta-2")
    assert at_provider[0]["params"]["StatusCallback"].endswith(f"/callbacks/twilio/status?m={message['id']}")
    final = await notify.wait_status(message["id"], "delivered")
    assert final["status"] == "delivered" and final["provider_id"] == at_provider[0]["sid"]
    log = (await notify.client.get(f"/messages/{message['id']}/events", headers=notify.headers)).json()
    assert [e["kind"] for e in log][:3] == ["queued", "attempt", "accepted"]
    assert [(e["status"], e["applied"]) for e in log if e["kind"] == "callback"] == [("sent", True), ("delivered", True)]


async def test_same_idempotency_key_never_sends_twice(notify: Notify) -> None:
    await add_templates(notify)
    body = {"idempotency_key": key(), "template_key": "vaccination_due", "language": "en", "to": "+919811111111",
            "area_code": "IN-23-0456", "variables": VARIABLES, "urgent": True}
    first = await notify.client.post("/messages", headers=notify.headers, json=body)
    again = await notify.client.post("/messages", headers=notify.headers, json=body)
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    await notify.dispatcher.dispatch_once()
    third = await notify.client.post("/messages", headers=notify.headers, json=body)
    assert third.status_code == 200
    await notify.dispatcher.dispatch_once()
    assert len(await sent_to(notify, "+919811111111")) == 1


async def test_out_of_order_callbacks_never_move_a_message_back(notify: Notify) -> None:
    await add_templates(notify)
    await notify.configure(callback_order="reversed")
    message = (await send(notify, urgent=True)).json()
    await notify.dispatcher.dispatch_once()
    sid = (await sent_to(notify, "+919812345678"))[0]["sid"]
    callbacks = await notify.wait_callbacks(sid, 2)
    assert [c["MessageStatus"] for c in callbacks] == ["delivered", "sent"]
    assert all(c["answer"] == 204 for c in callbacks)
    assert (await notify.message(message["id"]))["status"] == "delivered"
    log = (await notify.client.get(f"/messages/{message['id']}/events", headers=notify.headers)).json()
    assert [(e["status"], e["applied"]) for e in log if e["kind"] == "callback"] == [("delivered", True),
                                                                                     ("sent", False)]


async def test_unsigned_or_forged_callbacks_are_refused(notify: Notify) -> None:
    await add_templates(notify)
    message = (await send(notify, urgent=True)).json()
    path = f"/callbacks/twilio/status?m={message['id']}"
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "1" * 32}
    content, form = urlencode(params), {"Content-Type": "application/x-www-form-urlencoded"}
    unsigned = await notify.client.post(path, content=content, headers=form)
    forged = await notify.client.post(path, content=content, headers={
        **form, "X-Twilio-Signature": RequestValidator("not-our-token").compute_signature(
            notify.url + path, params)})
    other_url = await notify.client.post(path, content=content, headers={
        **form, "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(
            notify.url + "/callbacks/twilio/status?m=other", params)})
    assert [unsigned.status_code, forged.status_code, other_url.status_code] == [403, 403, 403]
    assert unsigned.headers["content-type"] == "application/problem+json"
    assert (await notify.message(message["id"]))["status"] == "pending"
    genuine = await notify.client.post(path, content=content, headers={
        **form, "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(
            get_notify_settings().public_callback_base + path, params)})
    assert genuine.status_code == 204


async def test_hindi_and_bengali_segments_and_cost_before_sending(notify: Notify) -> None:
    await add_templates(notify)
    previews = {}
    for language in ("en", "hi", "bn"):
        r = await notify.client.post("/templates/preview", headers=notify.headers, json={
            "template_key": "vaccination_due", "language": language, "variables": VARIABLES, "recipients": 22812})
        assert r.status_code == 200, r.text
        previews[language] = r.json()
    assert (previews["en"]["encoding"], previews["en"]["segments"]) == ("GSM-7", 1)
    hi, bn = previews["hi"], previews["bn"]
    assert hi["encoding"] == bn["encoding"] == "UCS-2"
    assert hi["characters"] > 70 and hi["segments"] == -(-hi["characters"] // 67)
    assert bn["characters"] > 70 and bn["segments"] == -(-bn["characters"] // 67)
    assert hi["estimated_cost"] == round(hi["segments"] * 22812 * 0.0832, 4)
    message = (await send(notify, language="bn", urgent=True)).json()
    assert (message["encoding"], message["segments"]) == ("UCS-2", bn["segments"])
    await notify.dispatcher.dispatch_once()
    at_provider = (await sent_to(notify, "+919812345678"))[0]
    assert at_provider["body"] == bn["text"]


async def test_dlt_mismatch_is_refused(notify: Notify) -> None:
    await add_templates(notify)
    too_long = {**VARIABLES, "child": "R" * 31}  # a {#var#} holds at most 30 characters
    r = await send(notify, variables=too_long)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "variables"
    missing = await send(notify, variables={"name": "x"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "variables.child"
    bad = await notify.client.post("/templates", headers=notify.headers, json={
        "key": "mismatch", "language": "en", "dlt_entity_id": "1101234567890123456",
        "dlt_template_id": "1107123456789012345", "dlt_header": "GRMSTU",
        "body": "Dear {name}, your ration is ready.", "dlt_text": "Dear {#var#}, your ration is ready today."})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "dlt_text"
    assert await notify.records() == []


async def test_quiet_hours_hold_a_message_until_morning_in_the_recipients_zone(notify: Notify) -> None:
    await add_templates(notify)
    late_evening = datetime.now(IST).replace(hour=22, minute=15, second=0, microsecond=0)
    notify.clock.set(late_evening.astimezone(timezone.utc))
    india = (await send(notify)).json()
    dhaka = (await send(notify, to="+8801711111111", area="BD-40-87")).json()
    assert datetime.fromisoformat(india["not_before"]).astimezone(IST).hour == 8
    assert datetime.fromisoformat(dhaka["not_before"]).astimezone(ZoneInfo("Asia/Dhaka")).hour == 8
    assert await notify.dispatcher.dispatch_once() == 0
    notify.clock.set(late_evening.astimezone(timezone.utc) + timedelta(hours=10))  # 08:15 IST, 08:45 Dhaka
    assert await notify.dispatcher.dispatch_once() == 2
    urgent = (await send(notify, urgent=True)).json()
    assert urgent["not_before"] == india["not_before"] or urgent["status"] == "pending"


async def test_expired_message_is_dropped_not_sent_late(notify: Notify) -> None:
    await add_templates(notify)
    notify.clock.set(datetime.now(IST).replace(hour=22, minute=0).astimezone(timezone.utc))
    message = (await send(notify, valid_for_minutes=60)).json()  # quiet hours hold it past its validity
    notify.clock.advance(timedelta(hours=10, minutes=30))
    assert await notify.dispatcher.dispatch_once() == 1
    assert (await notify.message(message["id"]))["status"] == "expired"
    assert await notify.records() == []
    metrics = (await notify.client.get("/metrics")).text
    assert 'gramsetu_notify_dropped_stale_total{template="vaccination_due"}' in metrics


async def test_operator_opt_out_cancels_pending_and_blocks_new_sends(notify: Notify) -> None:
    await add_templates(notify)
    pending = (await send(notify, to="+919822222222", urgent=True)).json()
    r = await notify.client.post("/opt-outs", headers=notify.headers, json={
        "phone": "+919822222222", "reason": "asked at the anganwadi centre"})
    assert r.status_code == 201 and r.json()["phone_masked"] == "+91******2222"
    assert (await notify.message(pending["id"]))["status"] == "opted_out"
    later = (await send(notify, to="+919822222222", urgent=True)).json()
    assert later["status"] == "opted_out"
    await notify.dispatcher.dispatch_once()
    assert await sent_to(notify, "+919822222222") == []
    preview = await notify.client.post("/templates/preview", headers=notify.headers, json={
        "template_key": "vaccination_due", "language": "en", "variables": VARIABLES, "to": "+919822222222"})
    assert preview.json()["recipient_opted_out"] is True


async def test_opt_out_by_voice_keypress_and_by_missed_call(notify: Notify) -> None:
    await add_templates(notify)
    call = (await send(notify, to="+919833333333", channel="voice", urgent=True)).json()
    assert call["channel"] == "voice"
    await notify.dispatcher.dispatch_once()
    record = (await notify.records("call"))[0]
    assert "<Gather" in record["params"]["Twiml"] and 'language="en-IN"' in record["params"]["Twiml"]
    pressed = await notify.standin.post(f"/_standin/calls/{record['sid']}/press", json={"digits": "9"})
    assert pressed.json()["status"] == 200 and "no more messages" in pressed.json()["twiml"]
    missed = await notify.standin.post("/_standin/incoming-call", json={
        "from": "+919844444444", "to": "+15005550006", "url": f"{notify.url}/callbacks/twilio/voice/inbound"})
    assert missed.json()["status"] == 200 and "<Reject" in missed.json()["twiml"]
    listed = (await notify.client.get("/opt-outs", headers=notify.headers)).json()
    assert sorted(i["source"] for i in listed["items"]) == ["missed_call", "voice_keypress"]
    assert (await send(notify, to="+919844444444", urgent=True)).json()["status"] == "opted_out"


async def test_crash_between_provider_accept_and_commit_is_reconciled_not_resent(notify: Notify) -> None:
    await add_templates(notify)
    message = (await send(notify, to="+919855555555", urgent=True)).json()
    twin = (await send(notify, to="+919855555555", urgent=True)).json()  # same text, another alert
    await notify.configure(callbacks=False)  # the crash comes before any callback could

    async def crash(_: object) -> None:
        raise RuntimeError("process killed after the provider accepted")

    notify.dispatcher.after_provider = crash
    try:
        await notify.dispatcher.dispatch_once()
    except RuntimeError:
        pass
    notify.dispatcher.after_provider = None
    assert len(await sent_to(notify, "+919855555555")) == 2
    assert (await notify.message(message["id"]))["status"] == "attempting"
    assert await notify.dispatcher.dispatch_once() == 0  # attempting messages are never picked up again
    counts = await notify.dispatcher.reconcile_once(min_age_seconds=0)
    assert counts == {"adopted": 2, "requeued": 0, "unknown": 0}
    sids = {(await notify.message(m["id"]))["provider_id"] for m in (message, twin)}
    assert sids == {r["sid"] for r in await sent_to(notify, "+919855555555")}
    await notify.dispatcher.dispatch_once()
    assert len(await sent_to(notify, "+919855555555")) == 2


async def test_attempt_the_provider_never_received_is_sent_once_after_reconciliation(notify: Notify) -> None:
    await add_templates(notify)
    message = (await send(notify, to="+919866666666", urgent=True)).json()
    real = notify.dispatcher.provider
    notify.app.state.provider.http.api_base = "http://127.0.0.1:9"  # nothing listens: connection refused
    await notify.dispatcher.dispatch_once()
    assert (await notify.message(message["id"]))["status"] == "pending"  # refused connection: safe to retry
    notify.app.state.provider.http.api_base = str(notify.standin.base_url)
    assert real is notify.app.state.provider
    notify.clock.advance(timedelta(minutes=5))
    await notify.dispatcher.dispatch_once()
    assert len(await sent_to(notify, "+919866666666")) == 1


async def test_lost_answer_is_reconciled_with_the_provider_list(notify: Notify) -> None:
    await add_templates(notify)
    message = (await send(notify, to="+919877777777", urgent=True)).json()
    await notify.configure(delay_next=[1.5], callbacks=False)
    notify.app.state.provider.http.timeout = 0.5
    await notify.dispatcher.dispatch_once()
    assert (await notify.message(message["id"]))["status"] == "attempting"
    assert (await notify.dispatcher.reconcile_once(min_age_seconds=0))["adopted"] == 1
    assert len(await sent_to(notify, "+919877777777")) == 1


async def test_transient_errors_retry_with_backoff_permanent_ones_do_not(notify: Notify) -> None:
    await add_templates(notify)
    await notify.configure(fail_next=[{"status": 503, "code": 20503}])
    flaky = (await send(notify, to="+919888888888", urgent=True)).json()
    await notify.dispatcher.dispatch_once()
    invalid = (await send(notify, to="+15005550001", urgent=True)).json()
    blocked = (await send(notify, to="+15005550004", urgent=True)).json()
    await notify.dispatcher.dispatch_once()
    retry = await notify.message(flaky["id"])
    assert retry["status"] == "pending" and retry["attempts"] == 1 and retry["error_code"] == 20503
    assert datetime.fromisoformat(retry["not_before"]) > notify.clock.now()
    assert (await notify.message(invalid["id"]))["status"] == "failed"
    assert (await notify.message(blocked["id"]))["status"] == "opted_out"
    assert await notify.dispatcher.dispatch_once() == 0  # backoff: not yet
    notify.clock.advance(timedelta(seconds=5))
    assert await notify.dispatcher.dispatch_once() == 1
    assert (await notify.wait_status(flaky["id"], "delivered"))["attempts"] == 2
    assert (await notify.message(invalid["id"]))["attempts"] == 1


async def test_undelivered_sms_falls_back_to_a_voice_call(notify: Notify) -> None:
    await add_templates(notify, voice_text="{child} ko {vaccine} ka tika {date} ko lagega.")
    sms = (await send(notify, to="+15005550010", urgent=True)).json()
    await notify.dispatcher.dispatch_once()
    assert (await notify.wait_status(sms["id"], "undelivered"))["status"] == "undelivered"
    deadline = asyncio.get_running_loop().time() + 60
    while not await notify.dispatcher.dispatch_once():  # the fallback call is queued by the callback
        assert asyncio.get_running_loop().time() < deadline, "no fallback call was queued"
        await asyncio.sleep(0.05)
    calls = await notify.records("call")
    assert len(calls) == 1 and calls[0]["to"] == "+15005550010"
    assert "Ravi ko Penta-2 ka tika" in calls[0]["params"]["Twiml"]
    listed = (await notify.client.get("/messages", headers=notify.headers, params={"limit": 10})).json()
    voice = [m for m in listed["items"] if m["channel"] == "voice"]
    assert voice[0]["fallback_of"] == sms["id"] and voice[0]["source"] == "fallback"


async def test_rate_limits_per_sender_hold_the_rest_for_later(notify: Notify) -> None:
    await add_templates(notify)
    notify.dispatcher.rates = Rates(get_notify_settings().model_copy(update={"sender_messages_per_second": 2.0}))
    for i in range(5):
        await send(notify, to=f"+91980000000{i}", urgent=True)
    assert await notify.dispatcher.dispatch_once() == 2
    await asyncio.sleep(1.1)
    assert await notify.dispatcher.dispatch_once() == 2
    assert len(await notify.records()) == 4


async def test_rate_limits_hold_across_replicas(notify: Notify) -> None:
    """Two dispatchers with nothing in common but the database (two replicas) share one sender rate."""
    from services.notify.service.dispatch import Dispatcher

    await add_templates(notify)
    slow = get_notify_settings().model_copy(update={"sender_messages_per_second": 3.0})
    first = notify.dispatcher
    first.rates = Rates(slow)
    second = Dispatcher(first.sessionmaker, first.provider, slow, notify.clock)
    for i in range(8):
        await send(notify, to=f"+91981000000{i}", urgent=True)
    handed = await first.dispatch_once() + await second.dispatch_once()
    assert handed == 3 and len(await notify.records()) == 3  # per process buckets would have let 6 through
    await asyncio.sleep(1.1)
    assert await second.dispatch_once() + await first.dispatch_once() == 3
    assert len(await notify.records()) == 6
