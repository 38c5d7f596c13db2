"""The demo catalogue loads through the service functions, loading it again changes nothing, and its
ration (in kind, per household) and clinic check-up (a service) schemes work as posted."""

from __future__ import annotations

import uuid

from services.benefits.demo import DEPARTMENTS, SCHEMES, load_demo
from tests.benefits.conftest import THIS_MONTH, TODAY, WARD, admin, apply, household_event, person_event

VILLAGE = "IN-23-0456-2210-123456-654321"


async def test_demo_catalogue_is_idempotent(clean, settings):
    first = await load_demo(settings)
    assert first == {"departments": len(DEPARTMENTS), "schemes": len(SCHEMES)}
    assert await load_demo(settings) == {"departments": 0, "schemes": 0}


async def test_the_demo_ration_and_clinic_schemes_are_described_in_three_languages_and_take_postings(
        benefits, settings, session_factory):
    await load_demo(settings)
    kinds = {s["kind"] for s in SCHEMES}
    assert kinds == {"cash", "kind", "service"}
    for code in ("IN-PDS", "BD-ANC"):
        scheme = (await benefits.get(f"/schemes/{code}", headers=admin())).json()
        assert set(scheme["names"]) == set(scheme["descriptions"]) == {"en", "hi", "bn"}, scheme
    home = uuid.uuid4()
    wife, husband = (person_event(area=VILLAGE, household_id=home) for _ in range(2))
    mother = person_event(area=WARD, pregnant=True, birth_year=2000)
    await apply(session_factory, wife, husband, mother,
                household_event([wife.person_id, husband.person_id], area=VILLAGE, hid=home, income_band="aay"))

    def entry(scheme: str, **body: object) -> dict[str, object]:
        return {"scheme": scheme, "period": THIS_MONTH, "delivered_on": TODAY.isoformat(), "channel": "counter",
                "department_ref": f"DEMO-{uuid.uuid4().hex[:8]}", **body}

    ration = await benefits.post("/entries", json=entry("IN-PDS", household_id=str(home), quantity=35),
                                 headers=admin())
    assert ration.status_code == 201, ration.text
    assert (ration.json()["quantity"], ration.json()["unit"], ration.json()["decision"]) == (35, "kg", "accepted")
    # The husband's card the same month: the household already drew its ration; held for review.
    again = await benefits.post("/entries", json=entry("IN-PDS", person_id=str(husband.person_id), quantity=35),
                                headers=admin())
    assert again.status_code == 201 and again.json()["decision"] == "held", again.text
    coverage = (await benefits.get(f"/households/{home}/coverage", headers=admin())).json()
    pds = next(s for s in coverage["schemes"] if s["scheme"] == "IN-PDS")
    assert pds["eligible"] and pds["covered"]

    checked = await benefits.post("/entries", json=entry("BD-ANC", person_id=str(mother.person_id)),
                                  headers=admin())
    assert checked.status_code == 201, checked.text
    assert (checked.json()["amount_minor"], checked.json()["quantity"]) == (None, None)
    mine = (await benefits.get(f"/persons/{mother.person_id}/coverage", headers=admin())).json()
    anc = next(s for s in mine["schemes"] if s["scheme"] == "BD-ANC")
    assert anc["eligible"] and anc["covered"]
