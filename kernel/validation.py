"""Input every service refuses before its routes see it: text PostgreSQL cannot store, JSON nested
too deeply or too large, and a non-JSON body where JSON is required.

:class:`RequestGuardMiddleware` is installed by :func:`kernel.app.create_service_app` on every
service (and on the gateway's own routes), so a new service gets it without writing anything:

* every string in a JSON body (values and object keys), every query parameter and the path are
  checked for NUL (U+0000) and unpaired surrogates (U+D800-U+DFFF), which PostgreSQL's ``text``
  and ``jsonb`` cannot hold: 422 problem naming each field (``body.members.0.full_name``,
  ``query.parent``), instead of a 500 from the driver;
* a JSON body larger than ``Settings.max_json_body_bytes`` is a 413, one nested deeper than
  ``Settings.max_json_depth`` a 400, both saying why.

A body sent with no ``Content-Type`` is checked as JSON too: FastAPI parses it as JSON.

Text that reaches a service another way (a CSV/XLSX upload, an event) uses :data:`StorableStr` in
its pydantic model, or :func:`storable` directly.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import AfterValidator
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.errors import PayloadTooLarge, Problem, ValidationProblem, problem_response
from kernel.paths import public_path

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# How an unstorable character can appear in a JSON body's bytes: a NUL byte (also what UTF-16 and UTF-32
# text have, which json.loads would decode), the escapes \u0000 and \uD800-\uDFFF (any case), or a
# surrogate's three UTF-8 bytes (json.loads decodes bytes with surrogatepass).  A body with none of these
# holds no unstorable text, whatever it parses to.
_MAYBE_UNSTORABLE = re.compile(rb"\x00|\\u(?:0000|[dD][89a-fA-F])|\xed[\xa0-\xbf]")
UNSTORABLE_REASON = "contains a character that cannot be stored (NUL or an unpaired surrogate)"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def storable(text: str) -> bool:
    return UNSTORABLE.search(text) is None


def _storable_str(value: str) -> str:
    if not storable(value):
        raise ValueError(UNSTORABLE_REASON)
    return value


StorableStr = Annotated[str, AfterValidator(_storable_str)]


def unstorable_fields(value: Any, path: str) -> list[tuple[str, str]]:
    """(field, reason) for each string in a parsed JSON value that PostgreSQL cannot store."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if UNSTORABLE.search(node):
                found.append((where, UNSTORABLE_REASON))
        elif isinstance(node, dict):
            for key, item in node.items():
                child = f"{where}.{key}"
                if UNSTORABLE.search(key):
                    found.append((child, UNSTORABLE_REASON))
                stack.append((item, child))
        elif isinstance(node, list):
            stack.extend((item, f"{where}.{i}") for i, item in enumerate(node))
    return sorted(set(found))


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``[]`` is 1)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, depth + 1)
            stack.extend((item, depth + 1) for item in node if isinstance(item, (dict, list)))
    return deepest


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _parsed_as_json(content_type: str | None) -> bool:
    """Whether FastAPI will parse the body as JSON: a JSON media type, or none at all (FastAPI reads a
    body sent without a Content-Type as JSON, so the guards must see it too)."""
    return content_type is None or not content_type.strip() or is_json(content_type)


class TooDeep(Problem):
    status, type_slug, title = 400, "json-too-deep", "JSON nested too deeply"


class RequestGuardMiddleware:
    """Refuses the input described in the module docstring before the application sees it."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_url(scope)
            if scope["method"] in _BODY_METHODS and _parsed_as_json(_content_type(scope)):
                body = await self._read(scope, receive)
                self._check_json(body)
                receive = _replay(body, receive)
        except Problem as problem:
            state = scope["app"].state if "app" in scope else None
            # A service may answer some paths in another error format (the registry's DCI endpoints).
            render = getattr(state, "problem_renderer", None)
            custom = render(problem, scope) if render is not None else None
            if custom is not None:
                await custom(scope, receive, send)
                return
            service = getattr(state, "service", None)
            await problem_response(problem, instance=public_path(service, scope["path"]))(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _check_url(scope: Scope) -> None:
        bad = [("path", UNSTORABLE_REASON)] if UNSTORABLE.search(scope["path"]) else []
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            bad += [(f"query.{name}", UNSTORABLE_REASON) for name, value in pairs
                    if "\x00" in value or "\x00" in name]
        if bad:
            raise _unstorable(bad)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"JSON bodies are limited to {self.max_body_bytes} bytes.",
                               limit_bytes=self.max_body_bytes)

    def _check_json(self, body: bytes) -> None:
        if not body.strip() or self._plainly_fine(body):
            return
        try:
            parsed = json.loads(body)
        except RecursionError as exc:
            raise self._too_deep() from exc
        except ValueError:
            return  # not JSON: the route's own validation says where it broke
        if json_depth(parsed) > self.max_depth:
            raise self._too_deep()
        bad = unstorable_fields(parsed, "body")
        if bad:
            raise _unstorable(bad)

    def _plainly_fine(self, body: bytes) -> bool:
        """Whether the body passes without parsing it (most do): no byte sequence that could be unstorable
        text, and fewer brackets than the depth limit (each level of nesting opens one).  Parsing and
        walking a body here cost a small POST about as much as FastAPI's own parse of it."""
        return (body.count(b"{") + body.count(b"[") <= self.max_depth
                and _MAYBE_UNSTORABLE.search(body) is None)

    def _too_deep(self) -> TooDeep:
        return TooDeep(f"The JSON body is nested more than {self.max_depth} levels deep.",
                       max_depth=self.max_depth)


def _unstorable(bad: list[tuple[str, str]]) -> ValidationProblem:
    # A field's name may hold the very character (a key with a lone surrogate): written as its escape, or
    # the problem itself could not be encoded and the caller got a 500.
    bad = [(UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", field), reason) for field, reason in bad]
    return ValidationProblem(f"{len(bad)} invalid field(s); first: {bad[0][0]}: {bad[0][1]}",
                             errors=[{"field": field, "reason": reason, "type": "unstorable_character"}
                                     for field, reason in bad])


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _content_type(scope: Scope) -> str | None:
    return _header(scope, b"content-type")


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # the disconnect, when it comes

    return replay


__all__ = ["UNSTORABLE_REASON", "RequestGuardMiddleware", "StorableStr", "is_json", "json_depth",
           "storable", "unstorable_fields"]


async def body_within(request: Request, limit: int, too_large: str) -> bytes:
    """A raw (non-JSON) request body read as it streams in, refused with 413 ``too_large`` once it passes
    ``limit`` bytes: an upload route never holds more than that in memory."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(too_large)
        chunks.append(chunk)
    return b"".join(chunks)
