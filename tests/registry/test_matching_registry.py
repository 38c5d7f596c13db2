"""The matcher inside the registry: a new registration is checked at once against the records already
held, across scripts and honorifics; the queue shows why; a dismissal sticks; a merge confirms."""

from __future__ import annotations

from services.registry.rules.matching.engine import DEFAULT_THRESHOLD
from tests.registry.conftest import (
    OTHER_WARD,
    PURPOSE,
    UNION,
    bus_events,
    create_household,
    household,
    member,
    volunteer,
)

LINKED = "registry.person.duplicate_linked.v1"


async def _rokeya_twice(client) -> tuple[str, str]:
    first = await create_household(client, household(members=[
        member("রোকেয়া বেগম", "female", "head", birth_date="1984-02-11", father_name="আব্দুল করিম",
               phones=["01712345678"])]))
    second = await create_household(client, household(area=OTHER_WARD, members=[
        member("Mst. Rokeya Bibi", "female", "head", birth_date="1984-02-11", father_name="Abdul Karim",
               phones=["+8801712345678"])]), volunteer(OTHER_WARD))
    return first["members"][0]["id"], second["members"][0]["id"]


async def test_same_woman_in_two_scripts_is_queued_with_weights_and_announced(client, nats_url, database_url):
    one, other = await _rokeya_twice(client)
    items = (await client.get("/duplicates", headers=volunteer(UNION) | PURPOSE)).json()["items"]
    assert len(items) == 1, items
    cand = items[0]
    assert cand["reason"] == "probable_match"
    assert {cand["person_a"]["id"], cand["person_b"]["id"]} == {one, other}
    details = cand["details"]
    assert details["match_probability"] >= DEFAULT_THRESHOLD
    fields = {f["field"]: f for f in details["fields"]}
    assert fields["given_name"]["level"] == "exact" and fields["given_name"]["weight"] > 0
    assert fields["birth"]["level"] == "same date" and fields["phone"]["level"] == "same"
    assert fields["area"]["level"] == "sibling area"
    envelopes = await bus_events(nats_url, database_url, {LINKED})
    linked = [e.data for e in envelopes if e.type == LINKED]
    assert len(linked) == 1 and linked[0]["status"] == "suspected" and linked[0]["candidate_id"] == cand["id"]
    assert "given_name" in linked[0]["reasons"]


async def test_a_different_woman_of_the_same_name_is_not_queued(client):
    await create_household(client, household(members=[
        member("রোকেয়া বেগম", "female", "head", birth_date="1984-02-11", father_name="আব্দুল করিম")]))
    await create_household(client, household(members=[
        member("Rokeya Begum", "female", "head", birth_date="1961-07-01", father_name="Nurul Islam")]))
    assert (await client.get("/duplicates", headers=volunteer() | PURPOSE)).json()["total"] == 0


async def test_a_father_and_his_namesake_son_in_one_household_are_not_linked(client, database_url):
    # Same name, household and ward; the son's birth date was not recorded, so only his guardian, his
    # father's own name, tells them apart.  The household's agreement alone would have linked them.
    from kernel.db import make_engine, make_sessionmaker, transaction
    from services.registry.repository.persons import PersonRepository
    from services.registry.rules.matching.compare import NAMES_THE_OTHER
    from services.registry.service.matching.batch import match_registry
    from services.registry.service.matching.incremental import explain_pair

    created = await create_household(client, household(members=[
        member("Md. Harun Mondal", "male", "head", birth_date="1972-03-01", father_name="Babul Mondal",
               phones=["01712345678"]),
        member("হারুন মন্ডল", "male", "child", father_name="হারুন মন্ডল")]))
    father, son = (m["id"] for m in created["members"])
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            repo = PersonRepository(session)
            rows = [await repo.get_unscoped(father), await repo.get_unscoped(son)]
            assert rows[0] is not None and rows[1] is not None
            scored = await explain_pair(session, rows[0], rows[1])
            outcome = await match_registry(session)
    finally:
        await engine.dispose()
    fields = {f["field"]: f["level"] for f in scored.fields}
    assert fields["household"] == "same" and fields["given_name"] == "exact"
    assert fields["guardian"] == NAMES_THE_OTHER and scored.probability < 0.05
    assert outcome.persons == 2 and outcome.above_threshold == 0
    assert (await client.get("/duplicates", headers=volunteer() | PURPOSE)).json()["total"] == 0


async def test_dismissed_probable_match_stays_dismissed_after_an_edit(client):
    one, _ = await _rokeya_twice(client)
    scope = volunteer(UNION)
    cand = (await client.get("/duplicates", headers=scope | PURPOSE)).json()["items"][0]
    r = await client.post(f"/duplicates/{cand['id']}/dismiss", json={"note": "two women, checked"}, headers=scope)
    assert r.status_code == 200, r.text
    person = (await client.get(f"/persons/{one}", headers=scope | PURPOSE)).json()
    r = await client.patch(f"/persons/{one}", json={"occupation": "tailor", "base_version": person["version"]},
                           headers=scope)
    assert r.status_code == 200, r.text
    assert (await client.get("/duplicates", headers=scope | PURPOSE)).json()["total"] == 0


async def test_batch_run_finds_the_pair_again_and_queues_it_once(client, database_url):
    from kernel.db import make_engine, make_sessionmaker, transaction
    from services.registry.service.matching.batch import match_registry

    await _rokeya_twice(client)
    await create_household(client, household(members=[member("Karim Mia", "male", "head", birth_date="1970-01-01")]))
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            outcome = await match_registry(session)
    finally:
        await engine.dispose()
    assert outcome.persons == 3 and outcome.above_threshold == 1 and outcome.queued == 0
    assert (await client.get("/duplicates", headers=volunteer(UNION) | PURPOSE)).json()["total"] == 1


async def test_the_registry_dashboard_and_alerts_query_what_the_registry_exports(client):
    """deploy/'s registry dashboard and alert rules name only series the running registry's /metrics
    exposes (tests/test_deploy.py checks every dashboard against the code's registry; this checks the
    matcher's against the service itself, after a registration was checked and a pair queued)."""
    import json
    from pathlib import Path

    from tests.test_deploy import DEPLOY, SUFFIXES, dashboard_exprs, load_yaml, metric_names

    await _rokeya_twice(client)
    text = (await client.get("/metrics")).text
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    exported = declared | {name + suffix for name in declared for suffix in SUFFIXES}
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "gramsetu-registry.json").read_text())
    rules = load_yaml(Path(DEPLOY / "prometheus" / "rules" / "registry.rules.yaml"))[0]
    exprs = [*dashboard_exprs(dashboard),
             *(r["expr"] for g in rules["spec"]["groups"] for r in g["rules"])]
    wanted = {name for expr in exprs for name in metric_names(expr)}
    assert {"gramsetu_registry_match_check_seconds_bucket", "gramsetu_registry_match_flagged_total",
            "gramsetu_registry_match_decisions_total", "gramsetu_registry_match_model_version"} <= wanted
    assert wanted - exported == set(), "queried but not exported by the registry"
