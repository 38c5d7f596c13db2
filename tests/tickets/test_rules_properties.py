"""Property tests of the pure rules: state machine, business time, tracking numbers, routing."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.tickets.rules import routing, tracking
from services.tickets.rules.calendar import BusinessCalendar, NoWorkingTime, parse_hours
from services.tickets.rules.states import OPEN, TRANSITIONS, Action, InvalidTransition, Status, next_status

HOURS = parse_hours({d: [["10:00", "13:00"], ["14:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")})
HOLIDAYS = frozenset({date(2027, 1, 26), date(2026, 12, 25), date(2027, 3, 22)})
CALENDARS = [BusinessCalendar(tz, HOURS, HOLIDAYS, frozenset({2, 4})) for tz in ("Asia/Kolkata", "Asia/Dhaka", "UTC")]
moments = st.datetimes(min_value=datetime(2026, 11, 1), max_value=datetime(2027, 6, 1), timezones=st.just(timezone.utc))
durations = st.integers(min_value=0, max_value=30 * 7 * 3600)


class TicketMachine(RuleBasedStateMachine):
    """Random action sequences: the machine only moves along TRANSITIONS and refuses everything else."""

    def __init__(self) -> None:
        super().__init__()
        self.status = Status.NEW
        self.resolved_once = False

    @rule(action=st.sampled_from(Action))
    def act(self, action: Action) -> None:
        before = self.status
        try:
            self.status = next_status(before, action)
        except InvalidTransition as exc:
            assert (before, action) not in TRANSITIONS
            assert action.value.replace("_", " ") in str(exc) and exc.allowed == sorted(
                a.value for (s, a) in TRANSITIONS if s == before)
            return
        assert TRANSITIONS[(before, action)] == self.status
        self.resolved_once |= self.status == Status.RESOLVED

    @invariant()
    def closed_only_after_resolution(self) -> None:
        if self.status == Status.CLOSED:
            assert self.resolved_once

    @invariant()
    def escalated_is_open_and_waits_for_pickup(self) -> None:
        if self.status == Status.ESCALATED:
            assert self.status in OPEN and (Status.ESCALATED, Action.ASSIGN) in TRANSITIONS


TestTicketMachine = TicketMachine.TestCase
TestTicketMachine.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)


@given(cal=st.sampled_from(CALENDARS), start=moments, seconds=durations)
@settings(max_examples=150, deadline=None)
def test_adding_business_time_then_measuring_it_gives_it_back(cal: BusinessCalendar, start: datetime,
                                                               seconds: int) -> None:
    end = cal.add(start, seconds)
    assert end >= start
    assert abs(cal.between(start, end) - seconds) < 1e-6


@given(cal=st.sampled_from(CALENDARS), start=moments, a=durations, b=durations)
@settings(max_examples=100, deadline=None)
def test_business_time_adds_up_and_never_lands_off_hours(cal: BusinessCalendar, start: datetime, a: int,
                                                         b: int) -> None:
    assert cal.add(cal.add(start, a), b) == cal.add(start, a + b) or b == 0 or a == 0
    end = cal.add(start, a + b)
    if a + b > 0:
        local = end.astimezone(cal.zone)
        day = local.date() if local.time() != time(0) else local.date() - timedelta(days=1)
        assert cal.is_working_day(day)
        assert any(x < end <= y for x, y in cal.intervals(day))


def test_second_and_fourth_saturdays_and_holidays_are_off() -> None:
    cal = CALENDARS[0]
    assert not cal.is_working_day(date(2026, 12, 12)) and not cal.is_working_day(date(2026, 12, 26))
    assert cal.is_working_day(date(2026, 12, 5)) and cal.is_working_day(date(2026, 12, 19))
    assert not cal.is_working_day(date(2026, 12, 25)) and not cal.is_working_day(date(2026, 12, 13))


def test_a_calendar_without_working_time_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_hours({"mon": []})
    with pytest.raises(ValueError, match="overlap"):
        parse_hours({"mon": [["10:00", "12:00"], ["11:00", "13:00"]]})
    closed = BusinessCalendar("UTC", {0: [(time(10), time(11))]}, frozenset(), frozenset())
    forever = frozenset(date(2026, 1, 1) + timedelta(days=i) for i in range(4 * 366))
    with pytest.raises(NoWorkingTime):
        BusinessCalendar("UTC", closed.hours, forever).add(datetime(2026, 1, 1, tzinfo=timezone.utc), 60)


@given(st.integers(min_value=0, max_value=10_000))
@settings(max_examples=40)
def test_tracking_numbers_round_trip_and_catch_one_misheard_character(_: int) -> None:
    number = tracking.new_tracking_number()
    assert tracking.normalise(number) == number
    assert tracking.normalise(number.lower().replace("-", " ")) == number
    raw = number.replace("-", "")
    for i in range(len(raw)):
        for c in tracking.ALPHABET:
            if c != raw[i]:
                assert tracking.normalise(raw[:i] + c + raw[i + 1:]) is None
    for i in range(len(raw) - 2):  # adjacent swaps within the body
        if raw[i] != raw[i + 1]:
            assert tracking.normalise(raw[:i] + raw[i + 1] + raw[i] + raw[i + 2:]) is None


def test_tracking_numbers_use_every_character_in_every_position() -> None:
    """Drawn at random, not from a part of the alphabet: 2,000 numbers miss a character at a position with
    probability (18/19)^2000, never in practice."""
    bodies = [tracking.new_tracking_number().replace("-", "")[:tracking.RANDOM_LENGTH] for _ in range(2000)]
    for position in range(tracking.RANDOM_LENGTH):
        assert {body[position] for body in bodies} == set(tracking.ALPHABET)


def test_routing_picks_the_deepest_desk_and_escalates_upwards() -> None:
    desks = [routing.DeskRef(1, "IN-23", "state", ()), routing.DeskRef(2, "IN-23-0456", "district", ()),
             routing.DeskRef(3, "IN-23-0456-2210", "block", ("app_problem",))]
    assert routing.route(desks, "IN-23-0456-2210-123456", "app_problem").id == 3  # type: ignore[union-attr]
    assert routing.route(desks, "IN-23-0456-2210-123456", "grievance").id == 2  # type: ignore[union-attr]
    assert routing.route(desks, "IN-24", "grievance") is None
    assert routing.next_level(desks, desks[2], "app_problem").id == 2  # type: ignore[union-attr]
    assert routing.next_level(desks, desks[0], "app_problem") is None
