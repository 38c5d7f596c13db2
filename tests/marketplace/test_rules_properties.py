"""Property tests of the pure rules: state machine, rate choice, cancellation fees, search lanes."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from services.marketplace.rules.geo import LANE_WIDTH, haversine_km, lane_point, search_box
from services.marketplace.rules.lifecycle import (
    CANCELLABLE,
    FINAL,
    STATUSES,
    TRANSITIONS,
    InvalidTransition,
    next_status,
)
from services.marketplace.rules.pricing import RateRow, cancellation_fee, pick_rate, terms_snapshot
from services.marketplace.rules.registry_link import PersonCopy, judge

actions = st.sampled_from(sorted(TRANSITIONS))


@given(st.lists(actions, max_size=40))
def test_any_action_sequence_stays_in_the_machine(sequence: list[str]) -> None:
    status = "requested"
    for action in sequence:
        try:
            after = next_status(status, action)
        except InvalidTransition:
            continue
        assert after in STATUSES and status not in FINAL
        if action == "cancel":
            assert status in CANCELLABLE
        status = after
    assert status in STATUSES


def test_rated_and_cancelled_are_final_and_work_started_cannot_be_cancelled() -> None:
    for status in FINAL | {"in_progress", "completed"}:
        try:
            next_status(status, "cancel")
        except InvalidTransition:
            continue
        raise AssertionError(status)


areas = st.sampled_from(["IN", "IN-09", "IN-09-162", "IN-09-162-820", "IN-09-170", "BD-40"])


@given(st.lists(st.tuples(areas, st.integers(0, 400), st.integers(1, 400), st.integers(0, 10 ** 6)), max_size=8),
       st.sampled_from(["IN-09-162-820", "IN-09-170-1", "BD-40-87"]), st.integers(0, 800))
def test_the_rate_chosen_covers_the_place_and_day_and_is_the_most_specific(rows, area, day_offset) -> None:
    base = date(2026, 1, 1)
    rates = [RateRow(uuid.uuid4(), a, base + timedelta(days=start), base + timedelta(days=start + length), amount)
             for a, start, length, amount in rows]
    on = base + timedelta(days=day_offset)
    chosen = pick_rate(rates, area, on)
    covering = [r for r in rates if r.covers(area, on)]
    if not covering:
        assert chosen is None
        return
    assert chosen is not None and chosen.covers(area, on)
    assert len(chosen.area_code) == max(len(r.area_code) for r in covering)


@given(st.sampled_from(sorted(CANCELLABLE)), st.integers(-600, 600), st.integers(0, 100000),
       st.sampled_from(["customer", "provider", "platform"]))
def test_no_fee_before_assignment_or_when_the_provider_cancels(status, minutes_to_slot, visit, by) -> None:
    now = datetime(2026, 12, 7, tzinfo=timezone.utc)
    terms = terms_snapshot({"free_before_minutes": 120, "assigned_fee_minor": 5000})
    fee = cancellation_fee(status, terms, slot_start=now + timedelta(minutes=minutes_to_slot), now=now,
                           visit_charge_minor=visit, by=by)
    if by != "customer" or status in ("requested", "offered"):
        assert fee.minor == 0
    elif status == "assigned":
        assert fee.minor == (0 if minutes_to_slot > 120 else 5000)
    else:
        assert fee.minor == visit


@settings(max_examples=200)
@given(st.floats(20, 30), st.floats(76, 90), st.floats(0.5, 50), st.integers(1, 500), st.floats(0, 359.99),
       st.floats(0, 1))
def test_the_search_box_holds_every_point_of_the_lane_within_the_radius(lat, lon, radius, lane, bearing, frac):
    import math

    d = radius * frac * 0.999
    # A point at distance d along the bearing (small-distance approximation on the sphere is exact enough
    # for the check that follows, which uses the haversine distance of the actual point).
    dlat = d * math.cos(math.radians(bearing)) / 110.574
    dlon = d * math.sin(math.radians(bearing)) / (111.320 * math.cos(math.radians(lat + dlat)))
    plat, plon = lat + dlat, lon + dlon
    if haversine_km(lat, lon, plat, plon) > radius:
        return
    x1, y1, x2, y2 = search_box(lon, lat, radius, lane)
    x, y = lane_point(plon, plat, lane)
    assert x1 <= x <= x2 and y1 <= y <= y2
    other = lane_point(plon, plat, lane + 1)
    assert not (x1 <= other[0] <= x2)  # the next trade's lane is never inside the box
    assert LANE_WIDTH > 360


ID_TYPES = ["aadhaar", "bd_nid", "bd_brn", "voter_id", "ration_card"]
person_copies = st.one_of(st.none(), st.builds(
    PersonCopy, person_id=st.just(uuid.UUID(int=1)), status=st.sampled_from(["active", "deceased", "merged"]),
    merged_into=st.none(), identifier_types=st.lists(st.sampled_from(ID_TYPES), unique=True).map(tuple),
    version=st.integers(0, 5)))


@given(person_copies, st.sampled_from(ID_TYPES), st.booleans())
def test_a_link_is_verified_only_for_a_living_known_person_holding_that_identifier_type(
        person: PersonCopy | None, id_type: str, current: bool) -> None:
    verdict = judge(person, uuid.UUID(int=1), id_type, current=current)
    if verdict.status == "verified":
        assert person is not None and person.known and person.status != "deceased"
        assert id_type in person.identifier_types and verdict.refusal is None
    if person is not None and person.status == "deceased":
        assert verdict.status == "deceased" and verdict.refusal is not None  # never waited out
    elif not current:
        assert verdict.refusal is None  # a lagging copy refuses nothing but a death
    if verdict.refusal is not None:
        assert verdict.refusal[0] in ("registry_link.person_id", "registry_link.identifier_type")
