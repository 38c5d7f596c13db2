"""Person events carry the keyed lookup hashes of the person's live identifiers (never the values),
the same on the API path and the bulk-import path, so benefits can resolve an identifier a
department posts against."""

from __future__ import annotations

import asyncio
import json

from kernel.identifiers import keyed_lookup_hash, parse_identifier
from services.registry.settings import get_registry_settings
from tests.registry.conftest import WARD, aadhaar, bus_events, create_household, household, member, volunteer
from tests.registry.test_imports import person_row, sheet, upload


async def person_events(nats_url: str, database_url: str, names: set[str]) -> dict[str, dict]:
    """Person-registered payloads on the bus by name, waiting until every name has arrived."""
    for _ in range(50):
        envelopes = await bus_events(nats_url, database_url, {"registry.person.registered.v1"})
        found = {e.data["full_name"]: e.data for e in envelopes if e.type == "registry.person.registered.v1"}
        if names <= found.keys():
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"missing person events: {names - found.keys()}")


def expected_hash(id_type: str, value: str) -> str:
    parsed = parse_identifier(id_type, value, region="BD")
    return keyed_lookup_hash(get_registry_settings().id_hmac_key, id_type, parsed.match_key)


async def test_api_and_import_person_events_carry_lookup_hashes_not_values(client, nats_url, database_url):
    nid = "19702698765432101"
    await create_household(client, household(members=[
        member("Abdul Karim", "male", "head", identifiers=[{"type": "bd_nid", "value": nid}])]))
    r = await upload(client, sheet([person_row("HH-9", 1, "head", "Rahima", "female", bd_brn="20194713220012345",
                                               birth_date="2019-05-05")]))
    assert r.status_code == 201, r.text
    events = await person_events(nats_url, database_url, {"Abdul Karim", "Rahima"})
    # The 13-digit form of the same NID hashes to the same value (one matching key).
    assert events["Abdul Karim"]["identifier_hashes"] == [expected_hash("bd_nid", "2698765432101")]
    assert events["Rahima"]["identifier_hashes"] == [expected_hash("bd_brn", "20194713220012345")]
    assert nid not in json.dumps(list(events.values())) and aadhaar(1) not in json.dumps(list(events.values()))
    assert WARD in {e["area_code"] for e in events.values()}
    assert volunteer()  # the helper's headers are what both writes used
