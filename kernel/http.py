"""How every service is served: uvicorn's options, and one write per response instead of two.

uvicorn writes a response's status line and headers when the app sends ``http.response.start``, and
the body when it sends ``http.response.body``: two ``write`` system calls, two TCP segments (the socket
has ``TCP_NODELAY``) and two wake-ups of the client for one small JSON answer.  Measured with py-spy on
``POST /tickets`` under load (docs/tickets.md): the process spent a fifth of its CPU inside ``write``,
about 0.1 ms per call on this machine.  :class:`HttpProtocol` is uvicorn's httptools protocol whose
transport gathers what is written during one turn of the event loop and hands it to the socket in one
call at the end of that turn: a response sent in one go (headers, then body, without waiting in between)
leaves in one ``write``.  What a slow stream (server-sent events) writes later still goes out in the
turn it was written in.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport that passes writes on once per event-loop turn, in order, as one buffer."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()  # what the response wrote before closing still goes out
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self._pending)) + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:  # get_extra_info, pause_reading, is_closing, abort, ...
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a :class:`CoalescingTransport` (pass as ``uvicorn.run(http=...)``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]


def uvicorn_options() -> dict[str, Any]:
    """What ``gramsetu serve`` runs a service with (the bench runs it the same way)."""
    return {"http": HttpProtocol, "access_log": False, "proxy_headers": False}


__all__ = ["CoalescingTransport", "HttpProtocol", "uvicorn_options"]
