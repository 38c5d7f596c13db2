"""Posting: validation (areas, validity dates, quantities), ownership, idempotency, unknown persons, per-household
exclusivity, identifiers resolved by keyed hash."""

from __future__ import annotations

import uuid

import asyncpg
from sqlalchemy import text

from tests.benefits.conftest import (
    THIS_MONTH,
    UPAZILA,
    WARD,
    add_catalogue,
    admin,
    apply,
    department_client,
    grant,
    household_event,
    person_event,
)


async def test_bad_input_is_a_4xx_naming_the_field(catalogue, session_factory):
    person = person_event()
    await apply(session_factory, person)
    client = department_client()
    cases = [
        (grant("BD-NOPE", person_id=person.person_id), 422, "scheme"),
        (grant(person_id=person.person_id) | {"amount_minor": -500}, 422, "body.amount_minor"),
        (grant(person_id=person.person_id) | {"amount_minor": 600.5}, 422, "body.amount_minor"),
        (grant(person_id=person.person_id, period="2026-13"), 422, "period"),
        (grant(person_id=person.person_id, period="November"), 422, "period"),
        (grant(person_id=person.person_id) | {"currency": "INR"}, 422, "currency"),
    ]
    for body, status, field in cases:
        r = await catalogue.post("/entries", json=body, headers=client)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in r.json()["errors"]}, r.json()


async def test_a_department_posts_only_for_its_own_schemes(catalogue, session_factory):
    person = person_event()
    await apply(session_factory, person)
    r = await catalogue.post("/entries", json=grant("BD-VGF", person_id=person.person_id),
                             headers=department_client("BD-DSS"))
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "scheme"
    r = await catalogue.post("/entries", json=grant("BD-VGF", person_id=person.person_id),
                             headers=department_client("BD-DRR"))
    assert r.status_code == 422  # the person has no household: VGF is a household scheme
    assert r.json()["errors"][0]["field"] == "household_id"
    r = await catalogue.post("/entries", json=grant("BD-VGF", person_id=person.person_id) | {
        "amount_minor": 5, "currency": "BDT"}, headers=department_client("BD-DRR"))
    assert r.status_code == 422 and "amount_minor" in {e["field"] for e in r.json()["errors"]}


async def test_same_department_reference_twice_changes_nothing(catalogue, session_factory, database_url):
    person = person_event()
    await apply(session_factory, person)
    body = grant(person_id=person.person_id, ref="DSS-TALA-1")
    first = await catalogue.post("/entries", json=body, headers=department_client())
    again = await catalogue.post("/entries", json=body, headers=department_client())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    changed = await catalogue.post("/entries", json=body | {"amount_minor": 70000}, headers=department_client())
    assert changed.status_code == 409 and changed.json()["errors"][0]["field"] == "department_ref"
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM benefits.entry") == 1
    finally:
        await conn.close()


async def test_identifier_is_resolved_through_the_registry_events_hashes(catalogue, session_factory):
    person = person_event(nid="19502698765432101", birth_year=1950)
    await apply(session_factory, person)
    # The department knows the old 13-digit form: the same matching key, the same person.
    r = await catalogue.post("/entries", json=grant(identifier={"type": "bd_nid", "value": "2698765432101"}),
                             headers=department_client())
    assert r.status_code == 201, r.text
    assert r.json()["person_id"] == str(person.person_id) and r.json()["area_code"] == WARD
    assert r.json()["decision"] == "accepted" and r.json()["period"] == THIS_MONTH


async def test_unknown_person_is_held_or_refused_per_scheme(catalogue):
    nobody = {"type": "bd_nid", "value": "2698765439999"}
    held = await catalogue.post("/entries", json=grant(identifier=nobody, area_code=WARD),
                                headers=department_client())
    assert held.status_code == 201 and held.json()["decision"] == "held", held.text
    flag_id = held.headers["X-Benefits-Flags"]
    flag = await catalogue.get(f"/flags/{flag_id}", headers=department_client())
    assert flag.json()["kind"] == "unknown_person" and flag.json()["status"] == "open"
    no_area = await catalogue.post("/entries", json=grant(identifier=nobody), headers=department_client())
    assert no_area.status_code == 422 and no_area.json()["errors"][0]["field"] == "area_code"
    refused = await catalogue.post("/entries", json=grant("BD-WIDOW", person_id=uuid.uuid4(), area_code=WARD),
                                   headers=department_client())
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "person_id"


async def test_batch_gives_each_item_its_outcome(catalogue, session_factory):
    people = [person_event() for _ in range(3)]
    await apply(session_factory, *people)
    items = [grant(person_id=p.person_id) for p in people]
    items.append(grant(person_id=people[0].person_id))  # the same person again this month: held
    items.append(grant("BD-NOPE", person_id=people[1].person_id))
    r = await catalogue.post("/entries/batch", json={"entries": items}, headers=department_client())
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["held"], out["rejected"]) == (3, 1, 1)
    assert out["outcomes"][3]["status"] == "held" and out["outcomes"][3]["flags"]
    assert out["outcomes"][4]["code"] == "unknown_scheme"


async def test_every_posting_reaches_the_bus_with_its_chain_position(catalogue, session_factory, nats_url):
    """A single posting writes its event in the entry's own statement; a batch writes outbox batch
    rows (the bulk lane); either way each entry's benefits.entry.posted.v1 reaches JetStream once, with
    its lane and seq."""
    import asyncio

    import nats
    import nats.js.errors

    from contracts.base import Envelope

    people = [person_event() for _ in range(5)]
    await apply(session_factory, *people)
    one = (await catalogue.post("/entries", json=grant(person_id=people[0].person_id), headers=department_client())
           ).json()
    batch = await catalogue.post("/entries/batch", headers=department_client(),
                                 json={"entries": [grant(person_id=p.person_id) for p in people[1:]]})
    posted = {one["id"]: (one["partition"], one["seq"])}
    for outcome in batch.json()["outcomes"]:
        entry = (await catalogue.get(f"/entries/{outcome['entry_id']}", headers=department_client())).json()
        posted[entry["id"]] = (entry["partition"], entry["seq"])
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        seen: dict[str, tuple[str, int]] = {}
        for _ in range(200):
            seen.clear()
            for stream in ("BENEFITS", "BENEFITS_BULK"):
                try:
                    info = await js.stream_info(stream)
                except nats.js.errors.NotFoundError:  # not created yet
                    info = None
                if info is None or not info.state.messages:
                    continue
                for seq in range(info.state.first_seq, info.state.last_seq + 1):
                    envelope = Envelope.model_validate_json((await js.get_msg(stream, seq)).data or b"")
                    if envelope.type == "benefits.entry.posted.v1":
                        data = envelope.data
                        assert data["entry_id"] not in seen, "published twice"
                        seen[data["entry_id"]] = (data["partition"], data["seq"])
            if len(seen) >= len(posted):
                break
            await asyncio.sleep(0.1)
    finally:
        await nc.close()
    assert seen == posted


FLOOD = {  # a one-time cash transfer that ran from August to October 2026, in one upazila
    "code": "BD-FLOOD-2026", "department_code": "BD-DSS", "names": {"en": "Flood relief cash 2026"}, "kind": "cash",
    "beneficiary": "person", "amount_minor": 300000, "currency": "BDT", "frequency": "one_time",
    "area_codes": [UPAZILA], "valid_from": "2026-08-01", "valid_to": "2026-10-31",
    "rules": {"eligibility": {"all": []}, "exclusivity": {"per_person": True},
              "policy": {"on_conflict": "reject", "unknown_person": "reject"}},
}


async def test_a_scheme_refuses_a_person_outside_its_areas_and_a_delivery_outside_its_validity(catalogue,
                                                                                            session_factory):
    r = await catalogue.post("/schemes", json=FLOOD, headers=admin())
    assert r.status_code == 201, r.text
    here, elsewhere = person_event(), person_event(area="BD-40-87-91-12-01")  # another upazila
    await apply(session_factory, here, elsewhere)
    client = department_client()

    def flood(person: uuid.UUID, delivered_on: str) -> dict[str, object]:
        return grant("BD-FLOOD-2026", person_id=person, period="once") | {"amount_minor": 300000,
                                                                           "delivered_on": delivered_on}

    cases = [
        (flood(elsewhere.person_id, "2026-09-15"), "scheme", "does not run in BD-40-87-91-12-01"),
        (flood(here.person_id, "2026-11-05"), "delivered_on", "outside the scheme's validity"),  # after valid_to
        (flood(here.person_id, "2026-07-31"), "delivered_on", "outside the scheme's validity"),  # before valid_from
        (flood(here.person_id, "2026-12-09"), "delivered_on", "in the future"),
        (flood(here.person_id, "2026-09-15") | {"period": "2026-09"}, "period", "'once'"),
        # Unknown to the registry copy and outside the scheme's areas: refused, not held.
        (grant(identifier={"type": "bd_nid", "value": "2698765439999"}, area_code="IN-23-0456"), "area_code",
         "does not run in IN-23-0456"),
    ]
    for body, field, reason in cases:
        r = await catalogue.post("/entries", json=body, headers=client)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert any(e["field"] == field and reason in e["reason"] for e in r.json()["errors"]), (body, r.json())
    ok = await catalogue.post("/entries", json=flood(here.person_id, "2026-09-15"), headers=client)
    assert ok.status_code == 201, ok.text
    assert ok.json()["period"] == "once" and ok.json()["decision"] == "accepted"
    again = await catalogue.post("/entries", json=flood(here.person_id, "2026-10-01"), headers=client)
    assert again.status_code == 409  # one-time: once per person over the scheme's whole validity
    assert again.json()["evidence"]["conflicts"][0]["rule"] == "per_person"


async def test_an_in_kind_quantity_is_a_positive_whole_number_of_the_schemes_unit(catalogue, session_factory):
    members = [person_event(), person_event()]
    home = household_event([m.person_id for m in members])
    await apply(session_factory, *members, home)
    client = department_client("BD-DRR")
    for quantity, field in ((12.5, "body.quantity"), (-30, "body.quantity"), (0, "body.quantity"),
                            ("thirty", "body.quantity")):
        r = await catalogue.post("/entries", json=grant("BD-VGF", household_id=home.household_id) | {
            "quantity": quantity}, headers=client)
        assert r.status_code == 422, (quantity, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    r = await catalogue.post("/entries", json=grant("BD-VGF", household_id=home.household_id) | {"unit": "litre"},
                             headers=client)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "unit"
    r = await catalogue.post("/entries", json=grant("BD-VGF", household_id=home.household_id) | {"unit": "kg"},
                             headers=client)
    assert r.status_code == 201 and (r.json()["quantity"], r.json()["unit"]) == (30, "kg")
    async with session_factory() as session:
        assert await session.scalar(text("SELECT count(*) FROM benefits.entry")) == 1


MATERNITY = {  # once per household and month: a second mother in the same household is refused
    "code": "BD-MAT", "department_code": "BD-DSS", "names": {"en": "Maternity allowance"}, "kind": "cash",
    "beneficiary": "person", "amount_minor": 80000, "currency": "BDT", "frequency": "monthly", "area_codes": ["BD"],
    "valid_from": "2020-01-01",
    "rules": {"eligibility": {"all": [{"attr": "pregnant", "op": "eq", "value": True}]},
              "exclusivity": {"per_person": True, "per_household": True}, "policy": {"on_conflict": "reject"}},
}


async def test_a_second_grant_to_the_same_household_in_a_period_breaks_per_household(catalogue, session_factory):
    r = await catalogue.post("/schemes", json=MATERNITY, headers=admin())
    assert r.status_code == 201, r.text
    home, next_door = uuid.uuid4(), uuid.uuid4()
    mother, daughter_in_law = (person_event(household_id=home, pregnant=True) for _ in range(2))
    neighbour = person_event(household_id=next_door, pregnant=True)
    await apply(session_factory, mother, daughter_in_law, neighbour,
                household_event([mother.person_id, daughter_in_law.person_id], hid=home),
                household_event([neighbour.person_id], hid=next_door))
    client = department_client()
    first = await catalogue.post("/entries", json=grant("BD-MAT", person_id=mother.person_id) | {
        "amount_minor": 80000}, headers=client)
    assert first.status_code == 201 and first.json()["household_id"] == str(home), first.text
    second = await catalogue.post("/entries", json=grant("BD-MAT", person_id=daughter_in_law.person_id) | {
        "amount_minor": 80000}, headers=client)
    assert second.status_code == 409, second.text
    conflict = second.json()["evidence"]["conflicts"]
    assert [(c["rule"], c["other_entry_ids"]) for c in conflict] == [("per_household", [first.json()["id"]])]
    for body in (grant("BD-MAT", person_id=neighbour.person_id),  # another household
                 grant("BD-MAT", person_id=daughter_in_law.person_id, period="2026-11")):  # another month
        r = await catalogue.post("/entries", json=body | {"amount_minor": 80000}, headers=client)
        assert r.status_code == 201, r.text


async def test_a_posting_whose_commit_fails_answers_503_writes_nothing_and_the_next_one_works(
        catalogue, session_factory, database_url):
    """POST /entries commits on its own connection (no ORM session): a failed COMMIT must not answer 201,
    and the connection must not go back to the pool inside a transaction."""
    person, other = person_event(), person_event()
    await apply(session_factory, person, other)
    client = department_client()
    conn = await asyncpg.connect(database_url)
    try:
        # A check that runs at COMMIT and refuses this one reference (as a deferred constraint would).
        await conn.execute("""
            CREATE FUNCTION benefits.refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.department_ref = 'FAILS-AT-COMMIT' THEN RAISE EXCEPTION 'refused at commit'; END IF;
              RETURN NULL;
            END $$""")
        await conn.execute("CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON benefits.entry "
                           "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION benefits.refuse_at_commit()")
        failed = await catalogue.post("/entries", json=grant(person_id=person.person_id, ref="FAILS-AT-COMMIT"),
                                      headers=client)
        assert failed.status_code == 503 and failed.headers["content-type"] == "application/problem+json"
        assert await conn.fetchval("SELECT count(*) FROM benefits.entry") == 0
        for _ in range(3):  # every pooled connection is usable
            r = await catalogue.post("/entries", json=grant(person_id=other.person_id), headers=client)
            assert r.status_code in (200, 201), r.text
            other = person_event()
            await apply(session_factory, other)
        assert (await catalogue.get("/ledger/verify", headers=admin())).json()["intact"] is True
    finally:
        await conn.execute("DROP TRIGGER IF EXISTS refuse_at_commit ON benefits.entry")
        await conn.execute("DROP FUNCTION IF EXISTS benefits.refuse_at_commit()")
        await conn.close()


async def test_concurrent_batches_each_hold_their_lane_and_every_chain_verifies(served, session_factory):
    """A batch's lookup locks a lane of the month's chain; the lock must last until its write commits
    (the session's transaction), or two batches would chain onto the same head."""
    import asyncio

    catalogue = await add_catalogue(served)

    people = [person_event() for _ in range(40)]
    await apply(session_factory, *people)
    client = department_client()
    for start in (0, 20):  # the second round finds the pool's connections open: the batches truly overlap
        batches = [{"entries": [grant(person_id=p.person_id) for p in people[i:i + 5]]}
                   for i in range(start, start + 20, 5)]
        answers = await asyncio.gather(*(catalogue.post("/entries/batch", json=b, headers=client) for b in batches))
        assert all(r.status_code == 200 and r.json()["accepted"] == 5 for r in answers), [r.text for r in answers]
    report = (await catalogue.get(f"/ledger/verify?partition=BD-OAA:{THIS_MONTH}", headers=admin())).json()
    assert report["intact"] is True and report["entries"] == 40, report
