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
    number: Annotated[str, Path(min_length=1, max_length=20, examples=["KX7H-M4RA"],
                                description="The tracking number from the SMS")], session: DbSession,
    lang: Annotated[str | None, Query(pattern=r"^(hi|bn|en)$", description="hi, bn or en (default: from "
                                                                         "Accept-Language, else the ticket's)")] = None,
    accept_language: Annotated[str | None, Header(max_length=200, description="The browser's languages")] = None,
) -> HTMLResponse:
    """The page the SMS links to: the ticket's status, level, next deadline and public timeline, as
    plain HTML for a low-end phone (no JavaScript), in Hindi, Bengali or English. Never cached by a
    shared proxy, never indexed. Lookups are rate limited per source address.

    **Who:** anyone, with no credentials (`tickets:track` is open at the gateway, GET only), or a
    client holding `tickets:track`.

    **Errors:** 404 no ticket has this number (an HTML page says so); 429 too many lookups from your
    address.
    """
    code, html = await status_html(session, number, lang, accept_language)
    # Open to anyone at the gateway (kernel.roles: tickets:track is anonymous): never cached by a shared
    # proxy, never indexed, and the number in the URL is not passed on as a referrer.
    return HTMLResponse(html, status_code=code, headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex",
                                                         "Referrer-Policy": "no-referrer",
                                                         "Content-Security-Policy": "default-src 'none'; "
                                                         "style-src 'unsafe-inline'"})
