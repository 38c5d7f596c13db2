"""The request examples /docs offers for the registry's main writes are accepted by the real service.

``tests/test_openapi_completeness.py`` checks each example against its JSON Schema and pydantic
model; this sends the examples of the operations a partner starts with (areas, a household, an
offline sync batch, a round, a lookup, a DCI sender) through the app against PostgreSQL, so the
service's own rules (identifier check digits and birth years, phone numbers, the one-head rule,
registered areas) accept them too.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.registry.conftest import PURPOSE

# (METHOD, path): whether every example must succeed (2xx), not only be accepted as well-formed.
MAIN = {
    ("POST", "/areas"): False,  # the second example's block is in the test area tree already (409)
    ("POST", "/households"): True,
    ("POST", "/sync/batches"): True,
    ("POST", "/rounds"): True,
    ("POST", "/persons/lookup"): False,  # only the NID example's holder was registered above
    ("PUT", "/dci/senders/{sender_id}"): True,
    ("POST", "/households/{household_id}/survey"): False,  # the four-eyes rule refuses the collector
}


def examples(doc: dict[str, Any], method: str, path: str) -> list[Any]:
    content = doc["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]
    ref = content["schema"]["$ref"].rsplit("/", 1)[1]
    found = doc["components"]["schemas"][ref].get("examples") or []
    assert found, f"{method} {path} has no example"
    return list(found)


async def test_the_main_write_examples_are_accepted(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    doc = (await client.get("/openapi.json")).json()
    headers = admin_headers | PURPOSE
    ids: dict[str, str] = {"sender_id": "dept-social-welfare"}
    refused, answered = [], []
    for (method, path), must_succeed in MAIN.items():
        for i, body in enumerate(examples(doc, method, path)):
            try:
                url = path.format(**ids)
            except KeyError as missing:  # the example that creates it was refused: reported above
                refused.append(f"{method} {path}: not tried, no {missing} (the create above failed)")
                break
            response = await client.request(method, url, json=body, headers=headers)
            answered.append((method, path, i, response.status_code))
            if response.status_code in (400, 415, 422) or response.status_code >= 500 or (
                    must_succeed and not response.is_success):
                refused.append(f"{method} {path} example {i}: {response.status_code} {response.text[:300]}")
            if path == "/households" and response.is_success:
                ids["household_id"] = response.json()["id"]
    assert not refused, "\n".join(refused)
    lookups = [status for method, path, _, status in answered if path == "/persons/lookup"]
    assert 200 in lookups, answered  # the NID example finds the head of the household example
