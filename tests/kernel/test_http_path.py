"""The HTTP path every service shares: how it is served (one write per response, streams still flow) and
the request guard's check of a body it does not parse."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gramsetu.embedded import free_port
from kernel.http import CoalescingTransport, uvicorn_options
from kernel.validation import RequestGuardMiddleware


class _Recorder:
    """What a socket's transport was asked to write, call by call."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


async def test_what_is_written_in_one_loop_turn_reaches_the_socket_in_one_write_in_order() -> None:
    socket = _Recorder()
    transport = CoalescingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert socket.writes == []
    await asyncio.sleep(0)
    assert socket.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    transport.write(b"next")
    transport.close()  # what was written before closing still goes out, first
    assert socket.writes[-1] == b"next" and socket.closed
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)


async def _numbers(request: Request) -> Response:
    return JSONResponse({"n": int(request.path_params["n"])})


@asynccontextmanager
async def _serve(app: Starlette) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           **uvicorn_options()))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_the_served_app_answers_many_requests_on_one_keep_alive_connection() -> None:
    app = Starlette(routes=[Route("/n/{n}", _numbers)])
    async with _serve(app) as url:
        async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=1)) as client:
            for n in range(50):
                r = await client.get(f"/n/{n}")
                assert r.status_code == 200 and r.json() == {"n": n}


async def test_a_stream_delivers_each_chunk_when_written_not_with_the_next() -> None:
    """Server-sent events: a chunk written now reaches the client now, though the next is minutes away."""
    release = asyncio.Event()

    async def stream(_: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"data: first\n\n"
            await release.wait()
            yield b"data: second\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/stream", stream)])
    async with _serve(app) as url:
        async with httpx.AsyncClient(base_url=url) as client, client.stream("GET", "/stream") as r:
            lines = r.aiter_lines()
            assert await asyncio.wait_for(anext(lines), timeout=5) == "data: first"
            release.set()
            rest = [line async for line in lines if line]
            assert rest == ["data: second"]


def _guarded() -> httpx.AsyncClient:
    async def echo(request: Request) -> Response:
        return JSONResponse(await request.json())

    app = RequestGuardMiddleware(Starlette(routes=[Route("/", echo, methods=["POST"])]), max_body_bytes=1 << 20,
                                 max_depth=8)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize("body", [
    b'{"name": "Rahima\\u0000"}',  # an escaped NUL
    b'{"name": "Rahima\\uD800"}',  # an unpaired surrogate escaped in capitals
    '{"name": "Rahima\ud800"}'.encode("utf-8", "surrogatepass"),  # ... or sent as raw UTF-8 bytes
    b'{"name\\udfff": "Rahima"}',  # in a key
], ids=["escaped-nul", "upper-case-escape", "raw-surrogate-bytes", "key"])
async def test_text_postgresql_cannot_store_is_a_422_however_the_body_spells_it(body: bytes) -> None:
    async with _guarded() as client:
        r = await client.post("/", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["type"] == "unstorable_character"
    assert r.json()["errors"][0]["field"] in ("body.name", "body.name\\udfff")  # a key's is escaped, not a 500


@pytest.mark.parametrize("value", [
    {"name": "सुनीता देवी", "note": "😀 ok"},  # non-ASCII text, sent as UTF-8
    {"emoji": "\U0001f600"},  # a surrogate pair when escaped: one storable character
    {"rows": [[i] for i in range(40)]},  # more brackets than the depth limit, but two levels deep
], ids=["utf-8", "escaped-pair", "many-brackets"])
async def test_storable_bodies_pass_the_guard_untouched(value: dict[str, Any]) -> None:
    async with _guarded() as client:
        for ensure_ascii in (False, True):
            body = json.dumps(value, ensure_ascii=ensure_ascii).encode()
            r = await client.post("/", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 200, r.text
            assert r.json() == value


async def test_a_body_nested_past_the_limit_is_still_refused() -> None:
    async with _guarded() as client:
        r = await client.post("/", content=b'{"a":' * 9 + b"1" + b"}" * 9,
                              headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
