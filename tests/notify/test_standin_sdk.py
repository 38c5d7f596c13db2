"""The Twilio stand-in answers the real twilio SDK as Twilio would, and signs its callbacks as Twilio does."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from services.notify.providers.twilio import RebasedHttpClient
from services.notify.twilio_standin.signing import twilio_signature
from tests.notify.conftest import ACCOUNT_SID, AUTH_TOKEN, Notify


def sdk(standin_url: str, token: str = AUTH_TOKEN) -> Client:
    return Client(ACCOUNT_SID, token, http_client=RebasedHttpClient(standin_url, timeout=10))


@pytest.fixture
async def standin(standin_url: str) -> Any:
    async with httpx.AsyncClient(base_url=standin_url) as control:
        await control.post("/_standin/reset")
        yield control


async def test_messages_create_fetch_and_list_through_the_sdk(standin_url: str, standin: httpx.AsyncClient) -> None:
    client = sdk(standin_url)
    sent = await client.messages.create_async(to="+919812345678", from_="+15005550006", body="नमस्ते")
    assert sent.sid.startswith("SM") and len(sent.sid) == 34 and sent.status == "queued"
    assert sent.num_segments == "1" and sent.direction == "outbound-api"
    assert isinstance(sent.date_created, datetime)
    fetched = await client.messages(sent.sid).fetch_async()
    assert fetched.body == "नमस्ते" and fetched.to == "+919812345678"
    for i in range(3):
        await client.messages.create_async(to="+919800000001", from_="+15005550006", body=f"m{i}")
    listed = [m async for m in await client.messages.stream_async(to="+919800000001", page_size=2)]
    assert [m.body for m in listed] == ["m2", "m1", "m0"]  # newest first, across pages
    service = await client.messages.create_async(to="+919812345678", messaging_service_sid="MG" + "2" * 32, body="x")
    assert service.status == "accepted"  # Messaging Service sends start as accepted
    await client.http_client.close()


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"to": "+15005550001", "from_": "+15005550006"}, 21211),
    ({"to": "+15005550002", "from_": "+15005550006"}, 21612),
    ({"to": "+15005550003", "from_": "+15005550006"}, 21408),
    ({"to": "+15005550004", "from_": "+15005550006"}, 21610),
    ({"to": "+15005550009", "from_": "+15005550006"}, 21614),
    ({"to": "+919812345678", "from_": "+15005550001"}, 21212),
    ({"to": "+919812345678", "from_": "+15005550007"}, 21606),
    ({"to": "+919812345678", "from_": "+15005550008"}, 21611),
])
async def test_magic_numbers_answer_twilio_errors(standin_url: str, standin: httpx.AsyncClient,
                                                  kwargs: dict[str, str], code: int) -> None:
    client = sdk(standin_url)
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(body="hello", **kwargs)
    assert caught.value.code == code and caught.value.status == 400
    await client.http_client.close()


async def test_wrong_auth_token_is_refused(standin_url: str, standin: httpx.AsyncClient) -> None:
    client = sdk(standin_url, token="wrong")
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to="+919812345678", from_="+15005550006", body="x")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    await client.http_client.close()


async def test_calls_create_and_magic_numbers(standin_url: str, standin: httpx.AsyncClient) -> None:
    client = sdk(standin_url)
    call = await client.calls.create_async(to="+919812345678", from_="+15005550006",
                                           twiml="<Response><Say>hi</Say></Response>")
    assert call.sid.startswith("CA") and call.status == "queued"
    for to, code in (("+15005550001", 21217), ("+15005550002", 21214), ("+15005550003", 21215),
                     ("+15005550004", 21216)):
        with pytest.raises(TwilioRestException) as caught:
            await client.calls.create_async(to=to, from_="+15005550006", twiml="<Response/>")
        assert caught.value.code == code
    with pytest.raises(TwilioRestException) as caught:
        await client.calls.create_async(to="+919812345678", from_="+919999999999", twiml="<Response/>")
    assert caught.value.code == 21210
    await client.http_client.close()


async def test_queue_overflow_and_queue_expiry(standin_url: str, standin: httpx.AsyncClient) -> None:
    """A sender draining 1 message/s with room for 2 waiting refuses the next (21611); a message that
    would wait longer than its ValidityPeriod fails with 30001."""
    await standin.post("/_standin/config", json={"sender_mps": 1.0, "queue_capacity": 2, "callbacks": False})
    client = sdk(standin_url)
    accepted = [await client.messages.create_async(to="+919812345678", from_="+15005550006", body=f"b{i}",
                                                   validity_period=1) for i in range(3)]
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to="+919812345678", from_="+15005550006", body="overflow")
    assert caught.value.code == 21611
    deadline = asyncio.get_running_loop().time() + 60
    while True:  # the third waits 2 s in the queue, past its 1 s validity
        statuses = [(await client.messages(m.sid).fetch_async()) for m in accepted]
        if statuses[-1].status == "failed" or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    assert statuses[0].status == "delivered"
    assert statuses[-1].status == "failed" and statuses[-1].error_code == 30001
    await client.http_client.close()


async def test_status_callbacks_are_signed_as_twilio_signs_them(notify: Notify) -> None:
    """Callbacks from the stand-in to a URL with a query string pass twilio's own RequestValidator."""
    received: list[tuple[str, dict[str, str], str]] = []
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from gramsetu.embedded import free_port

    async def capture(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        received.append((str(request.url), form, request.headers.get("X-Twilio-Signature", "")))
        return Response(status_code=204)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/cb", capture, methods=["POST"])]),
                                           port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    client = sdk(str(notify.standin.base_url))
    callback = f"http://127.0.0.1:{port}/cb?m=abc&x=1"
    await client.messages.create_async(to="+15005550010", from_="+15005550006", body="x", status_callback=callback)
    deadline = asyncio.get_running_loop().time() + 60
    while len(received) < 2 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    server.should_exit = True
    await task
    await client.http_client.close()
    validator = RequestValidator(AUTH_TOKEN)
    assert [form["MessageStatus"] for _, form, _ in received] == ["sent", "undelivered"]
    assert received[-1][1]["ErrorCode"] == "30003"
    for url, form, signature in received:
        assert url == callback
        assert validator.validate(url, form, signature)
        assert not validator.validate(url, {**form, "MessageStatus": "delivered"}, signature)


@given(url=st.text(min_size=1, max_size=40), params=st.dictionaries(st.text(min_size=1, max_size=8),
                                                                    st.text(max_size=12), max_size=5))
def test_signing_equals_twilio_request_validator(url: str, params: dict[str, str]) -> None:
    assert RequestValidator(AUTH_TOKEN).compute_signature(url, params) == twilio_signature(AUTH_TOKEN, url, params)


