"""A kernel service whose ``POST /boom`` fails unexpectedly, served in its own process by
tests/gateway/test_bad_input.py (the 502 after a 500 only shows across processes)."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.runtime import ServiceSpec


def create_app() -> FastAPI:
    app = create_service_app(ServiceSpec(name="tickets", title="Boom", description="Fails on purpose"),
                             workers=False)

    @app.post("/boom")
    async def boom() -> None:
        raise ZeroDivisionError

    @app.post("/fine", status_code=201)
    async def fine() -> dict[str, str]:
        return {"status": "fine"}

    return app
