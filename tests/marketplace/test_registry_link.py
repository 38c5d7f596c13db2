"""A worker's registry link, checked against the marketplace's copy of the registry, which is kept from
the registry's person events arriving through NATS: pending while the copy does not know the person,
verified when it does, refused while the copy is current, re-pointed by a merge, made unavailable by a
death; a redelivered event is applied once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
from prometheus_client import REGISTRY

from contracts.base import Envelope, Event
from contracts.registry import PersonDeceased, PersonMerged, PersonRegistered
from kernel.bus import ensure_streams
from kernel.scheduler import ManualClock
from tests.marketplace.conftest import BLOCK, HERE, admin, ok, rate_card, vendor, worker
from tests.registry.conftest import AREAS, IN_VILLAGE, aadhaar, create_household, household, member, volunteer

CONSUMER = "marketplace-registry-persons"


def person(pid: uuid.UUID | None = None, *, types: tuple[str, ...] = ("aadhaar",), version: int = 1,
           status: str = "active") -> PersonRegistered:
    return PersonRegistered(
        person_id=pid or uuid.uuid4(), household_id=None, area_code="IN-09-162-820", full_name="Salim",
        sex="male", birth_date=None, birth_date_estimated=False, birth_year=1990, disability=None, pregnant=False,
        phones=[], preferred_language="hi", status=status, identifier_types=list(types), version=version)


def envelope(event: Event, at: datetime) -> Envelope:
    return Envelope(type=event.subject, source="registry", occurred_at=at, data=event.model_dump(mode="json"))


async def deliver(mp: httpx.AsyncClient, *envelopes: Envelope) -> int:
    """Publish on JetStream (each under a new message id, so the same envelope twice is a redelivery the
    broker does not dedupe) and poll the marketplace's consumer until they have all been fetched."""
    runtime = mp.app.state.runtime  # type: ignore[attr-defined]
    await ensure_streams(runtime.js, runtime.settings)
    for env in envelopes:
        await runtime.js.publish(env.type, env.model_dump_json().encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())})
    consumer = next(c for c in runtime.consumers if c.name == CONSUMER)
    consumer._psub = None  # the stream may have been recreated by another test
    fetched, deadline = 0, asyncio.get_running_loop().time() + 60
    while fetched < len(envelopes):
        fetched += await consumer.poll(timeout=1.0)
        assert asyncio.get_running_loop().time() < deadline, f"only {fetched} of {len(envelopes)} events arrived"
    return fetched


def link(pid: uuid.UUID, id_type: str = "aadhaar") -> dict[str, Any]:
    return {"person_id": str(pid), "identifier_type": id_type, "identifier_last4": "4821"}


async def enrol(mp: httpx.AsyncClient, vendor_id: str, pid: uuid.UUID, id_type: str = "aadhaar") -> httpx.Response:
    body = {"vendor_id": vendor_id, "name": "Salim", "phone": "+919876543210", "home_area_code": BLOCK,
            "service_area_code": BLOCK, "home_lat": HERE[0], "home_lon": HERE[1] + 0.01, "skills": ["plumbing"],
            "registry_link": link(pid, id_type)}
    return await mp.post("/workers", json=body, headers=admin())


async def registry_link(mp: httpx.AsyncClient, wid: str) -> dict[str, Any]:
    return (await ok(await mp.get(f"/workers/{wid}", headers=admin())))["registry_link"]  # type: ignore[no-any-return]


def refused_field(r: httpx.Response) -> str:
    assert r.status_code == 422, r.text
    return r.json()["errors"][0]["field"]  # type: ignore[no-any-return]


async def test_a_link_is_pending_until_the_person_arrives_and_refused_while_the_copy_is_current(mp, clock):
    await rate_card(mp)
    vid = await vendor(mp)
    salim = uuid.uuid4()
    # The copy has never heard from the registry: it cannot tell, so the link is kept as pending.
    r = await enrol(mp, vid, salim)
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    assert (r.json()["registry_link"]["status"], r.json()["registry_link"]["registry_as_of"]) == ("pending", None)
    copy = await ok(await mp.get("/registry-copy", headers=admin()))
    assert (copy["current"], copy["last_event_at"], copy["pending_links"]) == (False, None, 1)

    await deliver(mp, envelope(person(salim), clock.now()))
    found = await registry_link(mp, wid)
    assert found["status"] == "verified" and found["person_id"] == str(salim)
    assert datetime.fromisoformat(found["registry_as_of"]) == clock.now()

    # The copy is current now: what it does not know is refused, naming the field.
    assert refused_field(await enrol(mp, vid, uuid.uuid4())) == "registry_link.person_id"
    assert refused_field(await enrol(mp, vid, salim, "voter_id")) == "registry_link.identifier_type"
    clock.advance(timedelta(seconds=120))
    copy = await ok(await mp.get("/registry-copy", headers=admin()))
    assert copy == {**copy, "current": True, "lag_seconds": 120.0, "events_applied": 1, "persons": 1,
                    "pending_links": 0, "max_lag_seconds": 900}
    gauge = REGISTRY.get_sample_value("gramsetu_marketplace_registry_copy_last_event_timestamp_seconds")
    assert gauge is not None and gauge >= (clock.now() - timedelta(seconds=120)).timestamp()

    # An hour without registry events: the copy lags, so an unknown person is pending again, not refused.
    clock.advance(timedelta(hours=1))
    lagging = await enrol(mp, vid, uuid.uuid4())
    assert lagging.status_code == 201 and lagging.json()["registry_link"]["status"] == "pending"
    assert (await ok(await mp.get("/registry-copy", headers=admin())))["current"] is False


async def test_a_merge_repoints_the_link_a_death_makes_the_worker_unavailable_and_redelivery_applies_once(
        mp, clock: ManualClock):
    await rate_card(mp)
    vid = await vendor(mp)
    old, survivor = uuid.uuid4(), uuid.uuid4()
    await deliver(mp, envelope(person(old), clock.now()), envelope(person(survivor, types=("aadhaar", "voter_id")),
                                                                    clock.now()))
    r = await enrol(mp, vid, old)
    assert r.status_code == 201 and r.json()["registry_link"]["status"] == "verified", r.text
    wid = r.json()["id"]
    await ok(await mp.put(f"/workers/{wid}/availability", json={"available": True}, headers=admin()))

    merged = envelope(PersonMerged(survivor_id=survivor, merged_id=old, area_code="IN-09-162-820",
                                   decided_by="reviewer-1", survivor_version=2), clock.now())
    await deliver(mp, merged, merged)  # the bus delivers the merge twice: applied once
    found = await registry_link(mp, wid)
    assert (found["person_id"], found["status"]) == (str(survivor), "verified")
    assert (await ok(await mp.get("/registry-copy", headers=admin())))["events_applied"] == 3
    # A new link to the merged record lands on the survivor.
    again = await enrol(mp, vid, old, "voter_id")
    assert again.status_code == 201 and again.json()["registry_link"]["person_id"] == str(survivor), again.text

    death = envelope(PersonDeceased(person_id=survivor, area_code="IN-09-162-820", deceased_on=date(2026, 12, 6),
                                    version=3), clock.now())
    await deliver(mp, death, death)
    assert (await ok(await mp.get("/registry-copy", headers=admin())))["events_applied"] == 4
    dead = await ok(await mp.get(f"/workers/{wid}", headers=admin()))
    assert (dead["available"], dead["registry_link"]["status"]) == (False, "deceased")
    search = await ok(await mp.get("/search", params={"category": "plumbing", "lat": HERE[0], "lon": HERE[1],
                                                      "area": BLOCK}, headers=admin()))
    assert search["items"] == []
    back = await mp.put(f"/workers/{wid}/availability", json={"available": True}, headers=admin())
    assert back.status_code == 409, back.text
    # A link to the deceased person, or to the record merged into them, is refused whatever the copy's lag.
    clock.advance(timedelta(days=2))
    assert refused_field(await enrol(mp, vid, survivor)) == "registry_link.person_id"
    assert refused_field(await enrol(mp, vid, old)) == "registry_link.person_id"
    # An older registration arriving late does not bring the person back.
    await deliver(mp, envelope(person(survivor, version=1), clock.now()))
    assert (await registry_link(mp, wid))["status"] == "deceased"


async def test_a_worker_without_a_link_is_untouched_by_registry_events(mp, clock):
    await rate_card(mp)
    wid = await worker(mp, await vendor(mp))
    await deliver(mp, envelope(person(), clock.now()))
    found = await ok(await mp.get(f"/workers/{wid}", headers=admin()))
    assert found["registry_link"] is None and found["available"] is True


async def test_a_person_the_registry_service_registers_verifies_a_pending_link(mp, registry_client, clock,
                                                                                admin_headers):
    """End to end: the registry service writes the person, its relay publishes, the marketplace applies."""
    registry = registry_client
    indian = [code for code in AREAS if code.startswith("IN")]
    assert all([(await registry.post("/areas", json={"code": c, "name": c}, headers=admin_headers)).status_code == 201
                for c in indian])
    await rate_card(mp)
    vid = await vendor(mp)
    created = await create_household(registry, household(area=IN_VILLAGE, members=[
        member("Salim Khan", "male", "head", birth_date="1988-04-02",
               identifiers=[{"type": "aadhaar", "value": aadhaar(41)}])]), volunteer(IN_VILLAGE))
    head = created["members"][0]["id"]
    r = await enrol(mp, vid, uuid.UUID(head))
    assert r.status_code == 201 and r.json()["registry_link"]["status"] == "pending", r.text
    clock.set(datetime.now(timezone.utc))
    runtime = mp.app.state.runtime  # type: ignore[attr-defined]
    consumer = next(c for c in runtime.consumers if c.name == CONSUMER)
    consumer._psub = None
    deadline = asyncio.get_running_loop().time() + 60
    while (await registry_link(mp, r.json()["id"]))["status"] != "verified":
        await consumer.poll(timeout=1.0)
        assert asyncio.get_running_loop().time() < deadline, "the registry's person event never arrived"
