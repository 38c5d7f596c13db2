"""The demo data `make run` loads: idempotent, and the README's search finds workers near Bhopal."""

from __future__ import annotations

from services.marketplace.demo import load_demo
from tests.marketplace.conftest import admin, ok


async def test_demo_loads_once_and_is_searchable(mp, settings):
    first = await load_demo(settings)
    assert first["workers"] == 30 and first["categories"] == 8 and first["departments"] == 2
    again = await load_demo(settings)
    assert set(again.values()) == {0}
    found = await ok(await mp.get("/search", params={
        "category": "plumbing", "lat": 23.2599, "lon": 77.4126, "area": "IN-23-0437-3561-123001-482001"},
        headers=admin()))
    assert found["items"] and found["items"][0]["distance_km"] < 10
    quote = await ok(await mp.get("/quote", params={"job": "plumbing.tap", "area": "BD-40-87-90-54-08"},
                                  headers=admin()))
    assert quote["job"]["amount_minor"] == 15000
