"""The broadcast duration planner, against the sizing in the reference (22,812 gram panchayats)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.notify.demo import template_documents
from services.notify.rules.planner import plan_send
from tests.notify.conftest import Notify


def test_hindi_to_every_gram_panchayat_at_one_per_second_outlasts_the_queue() -> None:
    slow = plan_send(22_812, 2, 1.0, 36_000)
    assert round(slow.seconds / 3600, 1) == 12.7 and not slow.fits and "30001" in (slow.warning or "")
    assert slow.senders_needed == 2
    fast = plan_send(22_812, 2, 10.0, 36_000)
    assert fast.fits and fast.warning is None and round(fast.seconds / 60) == 76


@given(recipients=st.integers(1, 10_000_000), segments=st.integers(1, 10), rate=st.floats(0.1, 1000),
       validity=st.integers(60, 36_000))
def test_plan_fits_exactly_when_the_send_ends_within_the_validity(recipients: int, segments: int, rate: float,
                                                                  validity: int) -> None:
    plan = plan_send(recipients, segments, rate, validity)
    assert plan.fits == (recipients * segments / rate <= validity)
    assert plan.fits or plan.senders_needed * rate * validity >= plan.total_segments * 0.999


async def test_plan_endpoint_uses_the_rendered_segment_count(notify: Notify) -> None:
    for doc in template_documents():
        await notify.client.post("/templates", headers=notify.headers, json=doc)
    r = await notify.client.post("/templates/plan", headers=notify.headers, json={
        "template_key": "vaccination_due", "language": "hi", "recipients": 22812, "segments_per_second": 1,
        "variables": {"child": "Ravi", "vaccine": "Penta-2", "date": "12-01-2027"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["segments_per_message"] == 2 and body["total_segments"] == 45624 and body["fits"] is False
