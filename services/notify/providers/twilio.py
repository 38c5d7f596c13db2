"""Twilio through its own SDK (``twilio``): Messages and Calls, the message list, callback signatures.

``TwilioProvider`` speaks to Twilio, or to any URL given as ``api_base`` (the local stand-in in
development and tests): only the scheme and host of the SDK's requests are rewritten, the REST
calls themselves are the SDK's.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from datetime import datetime

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from services.notify.providers.base import Accepted, OutboundCall, OutboundSms, ProviderError, SentMessage

TWILIO_API = "https://api.twilio.com"
VOICE_LANGUAGES = {"hi": "hi-IN", "bn": "bn-IN", "en": "en-IN"}


class RebasedHttpClient(AsyncTwilioHttpClient):
    """The SDK's aiohttp client, sending to ``api_base`` instead of api.twilio.com when one is given.
    Its session is opened on first use, inside the running event loop."""

    def __init__(self, api_base: str, timeout: float, connections: int = 100) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self.api_base = api_base.rstrip("/")
        self.connections = connections
        self.session: aiohttp.ClientSession | None = None  # type: ignore[assignment]

    async def request(self, method: str, url: str, params: dict[str, object] | None = None,  # type: ignore[override]
                      data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None, timeout: float | None = None,
                      allow_redirects: bool = False) -> Response:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.connections))
        if self.api_base and url.startswith(TWILIO_API):
            url = self.api_base + url[len(TWILIO_API):]
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        response = await self.session.request(
            method.upper(), url, params=params, data=data, headers=headers,  # type: ignore[arg-type]
            timeout=aiohttp.ClientTimeout(total=timeout or self.timeout), allow_redirects=allow_redirects,
        )
        async with response:
            return Response(response.status, await response.text(), response.headers)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def voice_twiml(text: str, language: str, *, audio_url: str | None = None, gather_action: str | None = None,
                opt_out_prompt: str | None = None) -> str:
    """A call that speaks (or plays) the message, then offers a keypress to stop these calls and SMS."""
    response = VoiceResponse()
    if audio_url:
        response.play(audio_url)
    else:
        response.say(text, language=VOICE_LANGUAGES.get(language, "en-IN"))
    if gather_action:
        gather = response.gather(num_digits=1, action=gather_action, method="POST", timeout=5)
        gather.say(opt_out_prompt or "Press 9 to stop these messages.", language=VOICE_LANGUAGES.get(language, "en-IN"))
    return str(response)


class TwilioProvider:
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, *, api_base: str = "", timeout: float = 10.0,
                 messaging_service_sid: str | None = None, sms_from: str | None = None,
                 voice_from: str | None = None) -> None:
        self.http = RebasedHttpClient(api_base, timeout)
        self.client = Client(account_sid, auth_token, http_client=self.http)
        self.validator = RequestValidator(auth_token)
        self.messaging_service_sid = messaging_service_sid
        self.sms_from = sms_from
        self.voice_from = voice_from

    async def send_sms(self, sms: OutboundSms) -> Accepted:
        kwargs: dict[str, object] = {"to": sms.to, "body": sms.body}
        if sms.sender or not self.messaging_service_sid:
            kwargs["from_"] = sms.sender or self.sms_from
        else:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        if sms.status_callback:
            kwargs["status_callback"] = sms.status_callback
        if sms.validity_seconds:
            kwargs["validity_period"] = max(1, min(sms.validity_seconds, 36_000))
        message = await self._call(self.client.messages.create_async(**kwargs))  # type: ignore[arg-type]
        return Accepted(message.sid or "", message.status or "queued", int(message.num_segments or 0) or None)

    async def place_call(self, call: OutboundCall) -> Accepted:
        kwargs: dict[str, object] = {"to": call.to, "from_": self.voice_from, "twiml": call.twiml}
        if call.status_callback:
            kwargs["status_callback"] = call.status_callback
            kwargs["status_callback_event"] = ["completed"]
        placed = await self._call(self.client.calls.create_async(**kwargs))  # type: ignore[arg-type]
        return Accepted(placed.sid or "", placed.status or "queued")

    async def sent_to(self, to: str, since: datetime) -> list[SentMessage]:
        found: list[SentMessage] = []
        # Filtering by DateSent would miss messages still queued: list by recipient, compare creation times.
        async for m in await self._call(self.client.messages.stream_async(to=to, page_size=100)):
            if m.date_created is not None and m.date_created < since:
                break  # newest first: everything after this is older
            found.append(SentMessage(m.sid or "", m.to or "", m.body or "", m.status or "", m.date_created))
        return found

    def callback_is_genuine(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        return bool(signature) and self.validator.validate(url, dict(params), signature)

    async def close(self) -> None:
        await self.http.close()

    @staticmethod
    async def _call(awaitable):  # type: ignore[no-untyped-def]
        try:
            return await awaitable
        except TwilioRestException as exc:
            raise ProviderError(exc.msg, http_status=exc.status, code=exc.code) from exc
        except aiohttp.ClientConnectorError as exc:  # never reached the provider: safe to retry
            raise ProviderError(f"cannot connect: {exc}", http_status=503) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:  # the request may have arrived
            raise ProviderError(f"no answer: {type(exc).__name__}", http_status=None) from exc
