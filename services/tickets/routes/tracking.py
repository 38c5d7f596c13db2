"""The public status page by tracking number (HTML for a low-end phone, no JavaScript)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import HTMLResponse

from kernel.db import DbSession
from services.tickets.service.tracking import status_html

router = APIRouter(tags=["tracking"])


@router.get("/track/{number}", response_class=HTMLResponse,
            responses={404: {"description": "No ticket has this number (an HTML page says so)",
                             "content": {"text/html": {}}}},
            summary="Public status page: status, level, deadline and public timeline in Hindi, Bengali or English")
async def track(
    number: Annotated[str, Path(min_length=1, max_length=20)], session: DbSession,
    lang: Annotated[str | None, Query(pattern=r"^(hi|bn|en)$")] = None,
    accept_language: Annotated[str | None, Header(max_length=200)] = None,
) -> HTMLResponse:
    code, html = await status_html(session, number, lang, accept_language)
    # Open to anyone at the gateway (kernel.roles: tickets:track is anonymous): never cached by a shared
    # proxy, never indexed, and the number in the URL is not passed on as a referrer.
    return HTMLResponse(html, status_code=code, headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex",
                                                         "Referrer-Policy": "no-referrer",
                                                         "Content-Security-Policy": "default-src 'none'; "
                                                         "style-src 'unsafe-inline'"})
