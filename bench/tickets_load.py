"""A lean HTTP/1.1 load generator for the creation figures: the same request, C keep-alive connections.

Why not httpx: measured (``python -m bench.tickets_per_request --server``), httpx spent 1.4 ms of CPU
per ``POST /tickets`` in the bench's process, more than the service's own 1.3 ms, and both ran on the
same two cores as PostgreSQL: the figure measured the client as much as the service.  Here each
connection writes the request's bytes (encoded once) and reads the answer with httptools' C parser
(the parser uvicorn uses): tens of microseconds per request.  One request in flight per connection,
as httpx's pool does; every response is read whole and its status counted.  The marketplace bench
sends its bookings (each to its own place) with :func:`fire_for`, the benefits bench its one-by-one
postings (each its own entry) with :func:`fire_all`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import httptools


def encode_request(method: str, path: str, body: Any, headers: Mapping[str, str], host: str) -> bytes:
    """The request's bytes: a JSON body, its length, keep-alive (HTTP/1.1's default)."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
             f"Content-Length: {len(payload)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``send`` writes a request and waits for its response's status."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self.parser.get_status_code())

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = exc or ConnectionResetError("the server closed the connection")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)

    async def send(self, request: bytes) -> int:
        if self.lost is not None or self.transport is None:
            raise ConnectionResetError("the connection is closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


async def fire(host: str, ports: Sequence[int], request: bytes, count: int, concurrency: int,
               expect: int = 201) -> int:
    """Send ``request`` ``count`` times (:func:`fire_all`); returns how many did not answer ``expect``."""
    return await fire_all(host, ports, itertools.repeat(request, count), concurrency, expect)


async def fire_all(host: str, ports: Sequence[int], requests: Iterable[bytes], concurrency: int,
                   expect: int = 201) -> int:
    """Send each of ``requests`` once over ``concurrency`` connections, spread evenly over ``ports`` (one
    per service process, as a Service balances connections over replicas); returns how many did not answer
    ``expect`` (a lost connection counts, and its remaining share goes to the others)."""
    loop = asyncio.get_running_loop()
    left = iter(requests)
    errors = 0

    async def worker(port: int) -> None:
        nonlocal errors
        _, conn = await loop.create_connection(_Connection, host, port)
        try:
            for request in left:
                try:
                    status = await conn.send(request)
                except ConnectionError:
                    errors += 1
                    return
                errors += status != expect
        finally:
            if conn.transport is not None:
                conn.transport.close()

    await asyncio.gather(*(worker(ports[i % len(ports)]) for i in range(concurrency)))
    return errors + sum(1 for _ in left)  # what no connection was left to send


async def fire_for(host: str, port: int, requests: Iterator[bytes], seconds: float, concurrency: int,
                   expect: int = 201) -> tuple[int, int]:
    """Send the next of ``requests`` on each of ``concurrency`` connections until ``seconds`` have passed;
    returns how many answered ``expect`` and how many did not (a lost connection counts once)."""
    loop = asyncio.get_running_loop()
    deadline = time.perf_counter() + seconds
    done = errors = 0

    async def worker() -> None:
        nonlocal done, errors
        _, conn = await loop.create_connection(_Connection, host, port)
        try:
            while time.perf_counter() < deadline:
                try:
                    status = await conn.send(next(requests))
                except ConnectionError:
                    errors += 1
                    return
                done += status == expect
                errors += status != expect
        finally:
            if conn.transport is not None:
                conn.transport.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, errors
