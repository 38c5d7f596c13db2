"""The import template carries a husband's or wife's name, in every language, onto the person."""

from __future__ import annotations

import pytest

from services.registry.rules.imports import template_headers
from tests.registry.conftest import PURPOSE, volunteer
from tests.registry.test_imports import person_row, sheet, upload


@pytest.mark.parametrize("lang", ["en", "hi", "bn"])
async def test_a_married_womans_husband_is_kept_on_import(client, lang):
    header = template_headers(lang)
    assert {"en": "spouse_name", "hi": "पति/पत्नी का नाम", "bn": "স্বামী/স্ত্রীর নাম"}[lang] in header
    rows = [person_row(f"S-{lang}", 1, "head", "Abdul Karim", "male"),
            person_row(f"S-{lang}", 2, "spouse", "Fatema Begum", "female", spouse_name="Abdul Karim",
                       father_name="Rahman Mia")]
    r = await upload(client, sheet(rows, lang))
    assert r.status_code == 201, r.text
    assert r.json()["rows_invalid"] == 0
    r = await client.get("/persons/search", params={"area": "BD-40-87-90-54-08", "name": "Fatema Begum"},
                         headers=volunteer() | PURPOSE)
    assert r.status_code == 200, r.text
    person_id = r.json()["items"][0]["id"]
    r = await client.get(f"/persons/{person_id}", headers=volunteer() | PURPOSE)
    assert r.json()["spouse_name"] == "Abdul Karim" and r.json()["father_name"] == "Rahman Mia"


async def test_spouse_name_is_recorded_by_hand_too(client):
    from tests.registry.conftest import create_household, household, member

    out = await create_household(client, household(members=[member("Rina", "female", "head",
                                                                   spouse_name="Late Harun")]))
    r = await client.get(f"/persons/{out['members'][0]['id']}", headers=volunteer() | PURPOSE)
    assert r.json()["spouse_name"] == "Late Harun"
