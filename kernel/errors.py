"""RFC 9457 problem details for every error a service returns.

Services raise :class:`Problem` (or a subclass); FastAPI's own validation errors and
``HTTPException`` are converted too, so a client always gets ``application/problem+json``
that says what was wrong, and an unexpected failure never leaks a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kernel.context import request_id_var
from kernel.paths import public_path

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://gramsetu.org/problems/"
log = logging.getLogger("gramsetu.errors")


class Problem(Exception):
    """An error with an HTTP status that is safe to show to the caller."""

    status: int = 400
    type_slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        type_slug: str | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if type_slug is not None:
            self.type_slug = type_slug
        if title is not None:
            self.title = title
        self.errors = errors
        self.headers = headers
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": PROBLEM_BASE + self.type_slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            doc["instance"] = instance
        if self.errors:
            doc["errors"] = self.errors
        request_id = request_id_var.get()
        if request_id:
            doc["request_id"] = request_id
        doc.update(self.extensions)
        return doc


class NotFound(Problem):
    status, type_slug, title = 404, "not-found", "Not found"


class RouteNotFound(Problem):
    """No operation at this path (or not with this method): told apart from a missing record (NotFound)."""

    status, type_slug, title = 404, "route-not-found", "No such route"


class Conflict(Problem):
    status, type_slug, title = 409, "conflict", "Conflict"


class Unauthorized(Problem):
    status, type_slug, title = 401, "unauthorized", "Unauthorized"


class Forbidden(Problem):
    status, type_slug, title = 403, "forbidden", "Forbidden"


class ValidationProblem(Problem):
    status, type_slug, title = 422, "validation-error", "Validation error"


class ServiceUnavailable(Problem):
    status, type_slug, title = 503, "service-unavailable", "Service unavailable"


class PayloadTooLarge(Problem):
    status, type_slug, title = 413, "payload-too-large", "Payload too large"


class RequestTimeout(Problem):
    status, type_slug, title = 408, "request-timeout", "Request timeout"


class TooManyRequests(Problem):
    status, type_slug, title = 429, "too-many-requests", "Too many requests"


class BadGateway(Problem):
    status, type_slug, title = 502, "bad-gateway", "Bad gateway"


class GatewayTimeout(Problem):
    status, type_slug, title = 504, "gateway-timeout", "Gateway timeout"


def problem_response(problem: Problem, request: Request | None = None, *, instance: str | None = None) -> JSONResponse:
    """The problem as ``application/problem+json``; its ``instance`` is the public (gateway) path of
    the request: a service's app records its name in ``app.state.service`` (kernel/app.py)."""
    if instance is None and request is not None:
        service = getattr(request.app.state, "service", None) if "app" in request.scope else None
        instance = public_path(service, request.url.path)
    return JSONResponse(
        problem.body(instance),
        status_code=problem.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=problem.headers,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        out.append({"field": ".".join(loc), "reason": err.get("msg", "invalid"), "type": err.get("type")})
    return out


class UnsupportedMediaType(Problem):
    status, type_slug, title = 415, "unsupported-media-type", "Unsupported media type"


# What FastAPI reports when a JSON-bodied route got a body it did not parse as JSON.
_NOT_PARSED_AS_JSON = frozenset({"model_attributes_type", "dict_type", "list_type", "model_type"})


def _not_json(request: Request, exc: RequestValidationError) -> UnsupportedMediaType | None:
    """A route that takes a JSON body was sent another media type: 415, not a puzzling 422."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not media or media == "application/json" or media.endswith("+json"):
        return None
    if not any(tuple(e.get("loc", ()))[:1] == ("body",) and len(e.get("loc", ())) == 1
               and e.get("type") in _NOT_PARSED_AS_JSON for e in exc.errors()):
        return None
    return UnsupportedMediaType(f"This operation takes an application/json body, not {media}.",
                                headers={"Accept-Post": "application/json"})


_STATUS_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("too-many-requests", "Too many requests"),
}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        unsupported = _not_json(request, exc)
        if unsupported is not None:
            return problem_response(unsupported, request)
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"field": "body", "reason": "invalid"}
        problem = ValidationProblem(
            f"{len(errors)} invalid field(s); first: {first['field']}: {first['reason']}", errors=errors
        )
        return problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404 and exc.detail == "Not Found":  # the router's: no route has this path
            return problem_response(RouteNotFound(f"No operation at {request.url.path}."), request)
        slug, title = _STATUS_TITLES.get(exc.status_code, ("error", "Error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        problem = Problem(
            detail, status=exc.status_code, type_slug=slug, title=title,
            headers=dict(exc.headers) if exc.headers else None,
        )
        return problem_response(problem, request)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(asyncpg.PostgresError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        race = _race_problem(exc)
        if race is not None:
            log.warning("request lost a race in the database", extra={"path": request.url.path,
                                                                        "sqlstate": _sqlstate(exc)})
            return problem_response(race, request)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        problem = Problem(
            "The server failed to handle this request; it has been logged with the request id.",
            status=500,
            type_slug="internal-error",
            title="Internal server error",
        )
        return problem_response(problem, request)


def _sqlstate(exc: Exception) -> str | None:
    """The SQLSTATE of a database error, raw asyncpg or wrapped by SQLAlchemy (which copies it)."""
    error = exc.orig if isinstance(exc, DBAPIError) else exc
    return getattr(error, "sqlstate", None)


def _race_problem(exc: Exception) -> Problem | None:
    """Errors two requests at the same moment cause, which checks made before the write cannot rule
    out: a unique key written by the other (409), a deadlock or serialisation failure (503, retry)."""
    sqlstate = _sqlstate(exc)
    if sqlstate == "23505":
        return Conflict("Another request wrote the same record at the same moment; nothing was written. "
                        "Read the current state before retrying.")
    if sqlstate in {"40001", "40P01"}:
        return ServiceUnavailable("The change collided with another and was not saved; retry the request.",
                                  headers={"Retry-After": "1"})
    return None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {
        "description": title,
        "content": {
            PROBLEM_CONTENT_TYPE: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "instance": {"type": "string"},
                        "errors": {"type": "array", "items": {"type": "object"}},
                        "request_id": {"type": "string"},
                    },
                    "required": ["type", "title", "status"],
                }
            }
        },
    }
    for code, title in {
        400: "Bad request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
        413: "Request body too large",
        415: "Body is not JSON",
        422: "Validation error",
    }.items()
}
