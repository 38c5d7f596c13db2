"""The demo catalogue loads through the service functions and loading it again changes nothing."""

from __future__ import annotations

from services.benefits.demo import DEPARTMENTS, SCHEMES, load_demo


async def test_demo_catalogue_is_idempotent(clean, settings):
    first = await load_demo(settings)
    assert first == {"departments": len(DEPARTMENTS), "schemes": len(SCHEMES)}
    assert await load_demo(settings) == {"departments": 0, "schemes": 0}
