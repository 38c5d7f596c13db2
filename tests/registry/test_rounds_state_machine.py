"""Properties of the round-item state machine and of coverage (pure rules, no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.registry.rules import rounds as rules
from services.registry.rules.rounds import CloseOutcome, Coverage, ItemAction, ItemState, ItemStatus

actions = st.sampled_from(list(ItemAction))
outcomes = st.none() | st.sampled_from(list(CloseOutcome))
destinations = st.none() | st.just("BD-40-87-90-55")
steps = st.lists(st.tuples(actions, outcomes, destinations), max_size=30)


def _valid(state: ItemState) -> bool:
    closed = state.status is ItemStatus.CLOSED
    return (closed == (state.outcome is not None)) and (
        state.destination is None or state.outcome is CloseOutcome.MOVED
    )


@settings(max_examples=400, deadline=None)
@given(steps)
def test_any_sequence_keeps_the_item_consistent(sequence: list[tuple[ItemAction, CloseOutcome | None, str | None]]):
    state = ItemState()
    for action, outcome, destination in sequence:
        before = state
        try:
            state = rules.apply(state, action, outcome=outcome, destination=destination)
        except rules.InvalidTransition:
            assert state == before
            continue
        assert _valid(state), (before, action, state)
        # Only a reviewer's reopen brings a decided item back to pending; unreached is final.
        if before.status is not ItemStatus.PENDING and state.status is ItemStatus.PENDING:
            assert action is ItemAction.REOPEN and before.status is ItemStatus.CLOSED
        assert before.status is not ItemStatus.UNREACHED


@given(st.sampled_from(list(ItemAction)), outcomes, destinations)
def test_unreached_is_final(action: ItemAction, outcome: CloseOutcome | None, destination: str | None):
    with pytest.raises(rules.InvalidTransition):
        rules.apply(ItemState(ItemStatus.UNREACHED), action, outcome=outcome, destination=destination)


@given(st.sampled_from([ItemStatus.PENDING, ItemStatus.CONFIRMED, ItemStatus.EDITED]), destinations)
def test_closing_needs_an_outcome_and_a_destination_only_when_moved(status: ItemStatus, destination: str | None):
    with pytest.raises(rules.InvalidTransition):
        rules.apply(ItemState(status), ItemAction.CLOSE, destination=destination)
    for outcome in (CloseOutcome.DECEASED, CloseOutcome.DISSOLVED):
        if destination is not None:
            with pytest.raises(rules.InvalidTransition):
                rules.apply(ItemState(status), ItemAction.CLOSE, outcome=outcome, destination=destination)
    moved = rules.apply(ItemState(status), ItemAction.CLOSE, outcome=CloseOutcome.MOVED, destination=destination)
    assert moved == ItemState(ItemStatus.CLOSED, CloseOutcome.MOVED, destination)


def test_reopen_clears_the_closure():
    closed = ItemState(ItemStatus.CLOSED, CloseOutcome.MOVED, "BD-40-87-90-55")
    assert rules.apply(closed, ItemAction.REOPEN) == ItemState()
    with pytest.raises(rules.InvalidTransition, match="allowed: reopen"):
        rules.apply(closed, ItemAction.EDIT)


counts = st.fixed_dictionaries({s.value: st.integers(0, 10_000) for s in ItemStatus})


@given(counts)
def test_coverage_is_a_share_and_complete_only_without_pending_or_unreached(raw: dict[str, int]):
    cov = Coverage.from_counts(raw)
    assert cov.total == sum(raw.values())
    assert 0.0 <= cov.ratio <= 1.0
    assert cov.complete == (raw["pending"] == 0 and raw["unreached"] == 0)
    if cov.total:
        assert abs(cov.ratio - cov.reached / cov.total) < 1e-4
    else:
        assert cov.ratio == 1.0


@given(st.lists(st.integers(1, 99), min_size=1, max_size=5), st.lists(st.integers(1, 99), max_size=3))
def test_child_area_is_the_next_level_down(parent: list[int], below: list[int]):
    area = "-".join(["BD", *map(str, parent)])
    code = "-".join([area, *map(str, below)])
    child = rules.child_area(code, area)
    assert child == (area if not below else f"{area}-{below[0]}")
    assert code == child or code.startswith(child + "-")
