"""``/docs`` works with no internet: a real headless Chromium, with every host but this one
unresolvable, renders Swagger UI with every operation of the merged document."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from html import unescape

import httpx
import pytest

from tests.gateway.conftest import Stack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def _render(url: str) -> str:
    assert CHROMIUM is not None
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         # Offline: any host but the gateway's fails to resolve, so a CDN asset would not load.
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--virtual-time-budget=20000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed")
async def test_docs_show_every_operation_offline_in_a_real_browser(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        page = await http.get("/docs")
        doc = (await http.get("/openapi.json")).json()
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    expected = {(method, path) for path, item in doc["paths"].items() for method in item if method in _HTTP_METHODS}
    dom = await asyncio.to_thread(_render, f"{stack.gateway_url}/docs")
    shown = {(m, unescape(p)) for m, p in re.findall(
        r'class="opblock opblock-(\w+)[^"]*".*?data-path="([^"]+)"', dom, flags=re.S)}
    assert len(expected) > 20
    assert shown == expected, f"missing: {sorted(expected - shown)[:10]} extra: {sorted(shown - expected)[:10]}"


async def test_the_docs_assets_come_from_the_installed_package(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        page = (await http.get("/docs")).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
        for asset in assets:
            r = await http.get(asset)
            assert r.status_code == 200 and len(r.content) > 1000, asset
    async with httpx.AsyncClient(base_url=stack.registry_url) as http:  # each service's own /docs too
        own = await http.get("/docs")
        assert own.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in own.text
