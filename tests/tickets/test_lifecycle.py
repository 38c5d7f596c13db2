"""Raising, routing, assignment, transitions and access, through the HTTP API."""

from __future__ import annotations

from tests.tickets.conftest import BLOCK_AGENT, OTHER_BLOCK_AGENT, Desks, worker


async def test_ticket_is_routed_to_the_block_desk_with_a_speakable_number(desks: Desks) -> None:
    ticket = await desks.raise_ticket()
    assert ticket["desk_id"] == desks.ids["block"] and ticket["level"] == "block" and ticket["status"] == "new"
    number = ticket["tracking_number"]
    assert len(number) == 9 and number[4] == "-" and not set(number) & set("0O1IL2Z5S8BGUVN")
    assert ticket["reporter"]["phone"].endswith("210") and "98765" not in ticket["reporter"]["phone"]
    assert await desks.outbox_subjects() == ["tickets.ticket.created.v1"]


async def test_invalid_transitions_are_refused_with_the_allowed_ones(desks: Desks) -> None:
    ticket = await desks.raise_ticket()
    r = await desks.act(ticket["id"], "resolve", BLOCK_AGENT)
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["type"].endswith("/invalid-transition") and problem["status_now"] == "new"
    assert problem["allowed"] == ["assign", "escalate"] and "cannot resolve" in problem["detail"]
    r = await desks.client.post(f"/{ticket['id']}/assignment", json={"agent": "block-agent"},
                                headers=BLOCK_AGENT)
    assert r.status_code == 200 and r.json()["status"] == "assigned"
    r = await desks.act(ticket["id"], "reopen", BLOCK_AGENT)
    assert r.status_code == 409 and "cannot reopen" in r.json()["detail"]


async def test_assignment_needs_an_agent_of_the_desk(desks: Desks) -> None:
    ticket = await desks.raise_ticket()
    r = await desks.client.post(f"/{ticket['id']}/assignment", json={"agent": "district-agent"},
                                headers=BLOCK_AGENT)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "agent"


async def test_cross_area_access_is_refused(desks: Desks) -> None:
    ticket = await desks.raise_ticket()
    for headers in (OTHER_BLOCK_AGENT, worker("aww-2")):
        assert (await desks.client.get(f"/{ticket['id']}", headers=headers)).status_code == 404
        r = await desks.client.post(f"/{ticket['id']}/comments", json={"body": "hello"}, headers=headers)
        assert r.status_code == 404
        listed = await desks.client.get("/", headers=headers)
        assert listed.json()["total"] == 0
    assert (await desks.client.get(f"/{ticket['id']}", headers=BLOCK_AGENT)).status_code == 200
    assert (await desks.client.get(f"/{ticket['id']}", headers=worker())).status_code == 200
    r = await desks.client.get(f"/desks/{desks.ids['block']}/queue", headers=OTHER_BLOCK_AGENT)
    assert r.status_code == 404


async def test_reporter_sees_only_public_timeline_and_cannot_act_as_agent(desks: Desks) -> None:
    ticket = await desks.raise_ticket()
    await desks.client.post(f"/{ticket['id']}/comments", json={"body": "check the phone's date",
                                                                        "visibility": "internal"}, headers=BLOCK_AGENT)
    r = await desks.client.post(f"/{ticket['id']}/comments", json={"body": "x", "visibility": "internal"},
                                headers=worker())
    assert r.status_code == 403
    agent_view = (await desks.client.get(f"/{ticket['id']}/timeline", headers=BLOCK_AGENT)).json()
    reporter_view = (await desks.client.get(f"/{ticket['id']}/timeline", headers=worker())).json()
    assert [e["kind"] for e in agent_view["items"]] == ["created", "comment"]
    assert [e["kind"] for e in reporter_view["items"]] == ["created"]
    assert (await desks.act(ticket["id"], "resolve", worker())).status_code == 403


async def test_ops_endpoints_are_not_taken_for_ticket_ids(desks: Desks) -> None:
    # The ticket routes sit at the service root; only UUIDs may reach them.
    assert (await desks.client.get("/healthz")).json()["status"] == "ok"
    assert (await desks.client.get("/readyz")).status_code == 200
    metrics = await desks.client.get("/metrics")
    assert metrics.status_code == 200 and "gramsetu_tickets_created_total" in metrics.text
    assert (await desks.client.get("/not-a-ticket", headers=BLOCK_AGENT)).status_code == 404
