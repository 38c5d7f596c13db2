"""The stand-in's HTTP surface: Twilio's v2010 Messages and Calls resources plus ``/_standin`` controls."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.notify.twilio_standin.behaviours import (
    CALL_TO_ERRORS,
    SMS_FROM_ERRORS,
    SMS_TO_ERRORS,
    VALID_TEST_FROM,
    Outcome,
)
from services.notify.twilio_standin.signing import twilio_signature
from services.notify.twilio_standin.state import API_VERSION, Config, Record, StandinState, new_sid

log = logging.getLogger("gramsetu.twilio_standin")
ACCOUNT = r"/2010-04-01/Accounts/{account_sid}"
DEFAULT_VALIDITY = 36_000  # Twilio's longest queue wait, seconds


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status_code=status,
    )


def _authorised(request: Request, state: StandinState) -> JSONResponse | None:
    account_sid = request.path_params["account_sid"]
    header = request.headers.get("authorization", "")
    try:
        user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, password = "", ""
    if state.accounts.get(user) != password or not password:
        return twilio_error(401, 20003, "Authenticate")
    if user != account_sid:
        return twilio_error(403, 20004, "Method not allowed for this account")
    return None


async def _post_signed(client: httpx.AsyncClient, state: StandinState, account_sid: str, url: str,
                       params: dict[str, str]) -> httpx.Response:
    signature = twilio_signature(state.accounts[account_sid], url, params)
    return await client.post(url, content=urlencode(params),
                             headers={"X-Twilio-Signature": signature,
                                      "Content-Type": "application/x-www-form-urlencoded",
                                      "User-Agent": "TwilioProxy/1.1"})


def _message_callback_params(record: Record, status: str, error_code: int | None) -> dict[str, str]:
    params = {"AccountSid": record.account_sid, "ApiVersion": API_VERSION, "From": record.from_,
              "MessageSid": record.sid, "MessageStatus": status, "SmsSid": record.sid, "SmsStatus": status,
              "To": record.to}
    if record.messaging_service_sid:
        params["MessagingServiceSid"] = record.messaging_service_sid
    if error_code:
        params["ErrorCode"] = str(error_code)
    return params


def _call_callback_params(record: Record, status: str) -> dict[str, str]:
    params = {"AccountSid": record.account_sid, "ApiVersion": API_VERSION, "CallSid": record.sid,
              "CallStatus": status, "Direction": "outbound-api", "From": record.from_, "To": record.to,
              "CallbackSource": "call-progress-events", "SequenceNumber": str(len(record.callbacks_sent))}
    if status == "completed":
        params["CallDuration"] = "12"
    return params


class Standin:
    def __init__(self, state: StandinState) -> None:
        self.state = state
        self.client: httpx.AsyncClient | None = None

    # ------------------------------------------------------------------ playback
    async def _callback(self, record: Record, params: dict[str, str]) -> None:
        if not record.status_callback or not self.state.config.callbacks or self.client is None:
            return
        try:
            response = await _post_signed(self.client, self.state, record.account_sid, record.status_callback, params)
            record.callbacks_sent.append({**params, "answer": response.status_code})
        except httpx.HTTPError as exc:  # Twilio gives up on a callback it cannot deliver; so do we
            record.callbacks_sent.append({**params, "answer": f"error: {type(exc).__name__}"})

    async def _play_message(self, record: Record, send_at: float, validity: int) -> None:
        config = self.state.config
        if send_at - record.created > validity:  # waited longer in the queue than it was valid
            await asyncio.sleep(max(record.created + validity - self.state.now(), 0))
            steps = [("failed", Outcome("failed", 30001))]
        else:
            await asyncio.sleep(max(send_at - self.state.now() + config.sent_delay, 0))
            record.status, record.sent_at, record.updated = "sent", self.state.now(), self.state.now()
            record.history.append("sent")
            steps = [("sent", Outcome("sent")), (record.outcome.status, record.outcome)]
            await asyncio.sleep(config.delivery_delay)
        final = steps[-1][1]
        record.status, record.error_code, record.updated = final.status, final.error_code, self.state.now()
        if final.status != "sent":
            record.history.append(final.status)
        if config.callback_order == "reversed":
            steps.reverse()
        for status, outcome in steps:
            await self._callback(record, _message_callback_params(record, status, outcome.error_code))

    async def _play_call(self, record: Record) -> None:
        await asyncio.sleep(self.state.config.sent_delay + self.state.config.delivery_delay)
        record.status, record.updated = record.outcome.status, self.state.now()
        record.history.append(record.status)
        events = set(record.params.get("StatusCallbackEvent", "completed").split())
        if "answered" in events and record.status == "completed":
            await self._callback(record, _call_callback_params(record, "in-progress"))
        await self._callback(record, _call_callback_params(record, record.status))

    # ------------------------------------------------------------------ Messages
    async def create_message(self, request: Request) -> Response:
        state = self.state
        if (denied := _authorised(request, state)) is not None:
            return denied
        state.create_requests += 1
        form = {k: str(v) for k, v in (await request.form()).items()}
        to, sender = form.get("To", ""), form.get("From", "")
        service_sid = form.get("MessagingServiceSid")
        if state.config.fail_next:
            fault = state.config.fail_next.pop(0)
            return twilio_error(fault.get("status", 503), fault.get("code", 20503), "Service temporarily unavailable")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not form.get("Body"):
            return twilio_error(400, 21602, "Message body is required.")
        if not sender and not service_sid:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        for table, key in ((SMS_FROM_ERRORS, sender), (SMS_TO_ERRORS, to)):
            if key in table:
                code, message = table[key]
                return twilio_error(400, code, message)
        if len(form["Body"]) > 1600:
            return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        now, queue = state.now(), service_sid or sender
        if state.waiting(queue, now) >= state.config.queue_capacity:
            return twilio_error(429, 21611, "This 'From' number has exceeded the maximum number of queued messages.")
        record = Record(
            kind="message", sid=new_sid("SM"), account_sid=request.path_params["account_sid"], to=to,
            from_=sender or service_sid or "", created=now, params=form,
            status="accepted" if service_sid else "queued",
            outcome=state.sms_outcomes.get(to, Outcome("delivered")), status_callback=form.get("StatusCallback"),
            messaging_service_sid=service_sid, body=form["Body"],
        )
        state.add(record)
        validity = int(form.get("ValidityPeriod") or DEFAULT_VALIDITY)
        state.spawn(self._play_message(record, state.slot(queue, now), validity))
        if state.config.delay_next:  # accepted, but the answer comes too late for the caller
            await asyncio.sleep(state.config.delay_next.pop(0))
        return JSONResponse(record.message_json(), status_code=201)

    async def list_messages(self, request: Request) -> Response:
        if (denied := _authorised(request, self.state)) is not None:
            return denied
        q = request.query_params
        size = min(int(q.get("PageSize", "50")), 1000)
        page = int(q.get("Page", "0"))
        after, before = _date_param(q.get("DateSent>")), _date_param(q.get("DateSent<"))
        exact = _date_param(q.get("DateSent"))
        rows = []
        for sid in reversed(self.state.order):  # newest first, as Twilio lists them
            r = self.state.records[sid]
            if r.kind != "message" or (q.get("To") and r.to != q["To"]) or (q.get("From") and r.from_ != q["From"]):
                continue
            sent_day = datetime.fromtimestamp(r.sent_at or r.created, timezone.utc).date()
            if (after and sent_day < after) or (before and sent_day > before) or (exact and sent_day != exact):
                continue
            rows.append(r)
        chunk = rows[page * size:(page + 1) * size]
        base = f"/{API_VERSION}/Accounts/{request.path_params['account_sid']}/Messages.json"
        keep = {k: v for k, v in q.items() if k not in ("Page", "PageToken", "PageSize")}
        more = (page + 1) * size < len(rows)
        uri = lambda p: f"{base}?{urlencode({**keep, 'PageSize': size, 'Page': p})}"  # noqa: E731
        return JSONResponse({
            "messages": [r.message_json() for r in chunk], "end": page * size + max(len(chunk) - 1, 0),
            "first_page_uri": uri(0), "next_page_uri": uri(page + 1) + f"&PageToken=PA{page + 1}" if more else None,
            "page": page, "page_size": size, "previous_page_uri": uri(page - 1) if page else None,
            "start": page * size, "uri": uri(page),
        })

    async def fetch_message(self, request: Request) -> Response:
        if (denied := _authorised(request, self.state)) is not None:
            return denied
        record = self.state.records.get(request.path_params["sid"])
        if record is None or record.kind != "message":
            return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
        return JSONResponse(record.message_json())

    # ------------------------------------------------------------------ Calls
    async def create_call(self, request: Request) -> Response:
        state = self.state
        if (denied := _authorised(request, state)) is not None:
            return denied
        form = await request.form()
        to, sender = str(form.get("To", "")), str(form.get("From", ""))
        if state.config.fail_next:
            fault = state.config.fail_next.pop(0)
            return twilio_error(fault.get("status", 503), fault.get("code", 20503), "Service temporarily unavailable")
        if not form.get("Twiml") and not form.get("Url") and not form.get("ApplicationSid"):
            return twilio_error(400, 21205, "Url, Twiml or ApplicationSid is required.")
        if sender != VALID_TEST_FROM:
            return twilio_error(400, 21210, f"The source phone number provided, {sender}, is not yet verified "
                                            "for your account.")
        if to in CALL_TO_ERRORS:
            code, message = CALL_TO_ERRORS[to]
            return twilio_error(400, code, message)
        params = {k: " ".join(str(v) for v in form.getlist(k)) for k in form}
        record = Record(kind="call", sid=new_sid("CA"), account_sid=request.path_params["account_sid"], to=to,
                        from_=sender, created=state.now(), params=params, status="queued",
                        outcome=state.call_outcomes.get(to, Outcome("completed")),
                        status_callback=params.get("StatusCallback"), twiml=params.get("Twiml"))
        state.add(record)
        state.spawn(self._play_call(record))
        return JSONResponse(record.call_json(), status_code=201)

    async def fetch_call(self, request: Request) -> Response:
        if (denied := _authorised(request, self.state)) is not None:
            return denied
        record = self.state.records.get(request.path_params["sid"])
        if record is None or record.kind != "call":
            return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
        return JSONResponse(record.call_json())

    # ------------------------------------------------------------------ controls
    async def control_reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"reset": True})

    async def control_config(self, request: Request) -> Response:
        body = await request.json()
        known = Config.__dataclass_fields__
        unknown = set(body) - set(known)
        if unknown:
            return JSONResponse({"unknown": sorted(unknown)}, status_code=422)
        for key, value in body.items():
            setattr(self.state.config, key, value)
        return JSONResponse(self.state.config.__dict__)

    async def control_outcomes(self, request: Request) -> Response:
        body = await request.json()
        table = self.state.call_outcomes if body.get("kind") == "call" else self.state.sms_outcomes
        for number, outcome in body.get("outcomes", {}).items():
            table[number] = Outcome.parse(outcome)
        return JSONResponse({"outcomes": len(table)})

    async def control_records(self, request: Request) -> Response:
        kind = request.query_params.get("kind")
        rows = [self.state.records[sid] for sid in self.state.order]
        return JSONResponse({"create_requests": self.state.create_requests, "records": [
            {"kind": r.kind, "sid": r.sid, "to": r.to, "from": r.from_, "body": r.body, "status": r.status,
             "history": r.history, "params": r.params, "callbacks": r.callbacks_sent}
            for r in rows if kind is None or r.kind == kind]})

    async def control_press(self, request: Request) -> Response:
        """The callee pressed keys during a call: post them to the call's <Gather action> as Twilio would."""
        record = self.state.records.get(request.path_params["sid"])
        if record is None or record.kind != "call" or not record.twiml:
            return JSONResponse({"error": "no such call with TwiML"}, status_code=404)
        match = re.search(r"<Gather[^>]*\baction=\"([^\"]+)\"", record.twiml)
        if match is None:
            return JSONResponse({"error": "the call's TwiML has no <Gather action>"}, status_code=409)
        action = match.group(1).replace("&amp;", "&")
        digits = (await request.json()).get("digits", "")
        params = {**_call_callback_params(record, "in-progress"), "Digits": digits, "FinishedOnKey": ""}
        params.pop("CallbackSource"), params.pop("SequenceNumber")
        assert self.client is not None
        answer = await _post_signed(self.client, self.state, record.account_sid, action, params)
        return JSONResponse({"status": answer.status_code, "twiml": answer.text})

    async def control_incoming_call(self, request: Request) -> Response:
        """Someone rang one of our numbers (a missed call): post Twilio's voice webhook to ``url``."""
        body = await request.json()
        account_sid = next(iter(self.state.accounts))
        params = {"AccountSid": account_sid, "ApiVersion": API_VERSION, "CallSid": new_sid("CA"),
                  "CallStatus": "ringing", "Direction": "inbound", "From": body["from"], "To": body["to"]}
        assert self.client is not None
        answer = await _post_signed(self.client, self.state, account_sid, body["url"], params)
        return JSONResponse({"status": answer.status_code, "twiml": answer.text})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "twilio-standin"})


def _date_param(value: str | None) -> Any:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).date()


def create_standin_app(accounts: dict[str, str]) -> Starlette:
    state = StandinState(accounts)
    standin = Standin(state)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        standin.client = httpx.AsyncClient(timeout=10.0, limits=httpx.Limits(max_connections=50))
        try:
            yield
        finally:
            state.reset()
            await standin.client.aclose()

    routes = [
        Route(f"{ACCOUNT}/Messages.json", standin.create_message, methods=["POST"]),
        Route(f"{ACCOUNT}/Messages.json", standin.list_messages, methods=["GET"]),
        Route(f"{ACCOUNT}/Messages/{{sid}}.json", standin.fetch_message, methods=["GET"]),
        Route(f"{ACCOUNT}/Calls.json", standin.create_call, methods=["POST"]),
        Route(f"{ACCOUNT}/Calls/{{sid}}.json", standin.fetch_call, methods=["GET"]),
        Route("/_standin/reset", standin.control_reset, methods=["POST"]),
        Route("/_standin/config", standin.control_config, methods=["POST"]),
        Route("/_standin/outcomes", standin.control_outcomes, methods=["POST"]),
        Route("/_standin/records", standin.control_records, methods=["GET"]),
        Route("/_standin/calls/{sid}/press", standin.control_press, methods=["POST"]),
        Route("/_standin/incoming-call", standin.control_incoming_call, methods=["POST"]),
        Route("/healthz", standin.healthz, methods=["GET"]),
        Route("/readyz", standin.healthz, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.standin = state
    return app
