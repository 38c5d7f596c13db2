"""The benefits rules as pure functions, without a database: eligibility over a person's facts (every
attribute and operator, unknown facts), benefit periods in every frequency, and exclusivity per person,
per household and "not together with"."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.benefits.rules.eligibility import ATTRIBUTES, Condition, Facts, age_on, evaluate, parse_rule
from services.benefits.rules.exclusivity import Candidate, Exclusivity, Grant, GrantIndex, conflicts
from services.benefits.rules.periods import FAR_FUTURE, InvalidPeriod, current_period, period_range

WARD = "BD-40-87-90-54-08"
ON = date(2026, 12, 7)

# A widowed woman of 70 with a visual disability, not pregnant, in a household of 4 in the bpl band.
RAHIMA = Facts(age=70, sex="female", disability="visual", pregnant=False, marital_status="widowed",
               household_size=4, income_band="bpl", area=WARD)
# Nothing known beyond sex and area (no birth date or year, no household, no marital status).
UNKNOWN = Facts(age=None, sex="male", disability=None, pregnant=None, marital_status=None, household_size=None,
                income_band=None, area="IN-23-0456")


def judge(condition: dict[str, Any], facts: Facts = RAHIMA) -> tuple[bool, list[str]]:
    verdict = evaluate(parse_rule({"all": [condition]}), facts)
    return verdict.eligible, verdict.unknown


# ---------------------------------------------------------------- eligibility: every attribute and operator


# (attribute, operator, a value that makes Rahima eligible, one that does not)
DECIDING = [
    ("age", "eq", 70, 69), ("age", "ne", 69, 70), ("age", "lt", 71, 70), ("age", "le", 70, 69),
    ("age", "gt", 69, 70), ("age", "ge", 70, 71),
    ("sex", "eq", "female", "male"), ("sex", "ne", "male", "female"), ("sex", "in", ["female", "other"], ["male"]),
    ("sex", "not_in", ["male", "other"], ["female"]),
    ("disabled", "eq", True, False),
    ("disability", "eq", "visual", "locomotor"), ("disability", "ne", "locomotor", "visual"),
    ("disability", "in", ["visual", "hearing"], ["hearing"]), ("disability", "not_in", ["hearing"], ["visual"]),
    ("pregnant", "eq", False, True),
    ("marital_status", "eq", "widowed", "married"), ("marital_status", "ne", "married", "widowed"),
    ("marital_status", "in", ["widowed", "divorced", "separated"], ["married"]),
    ("marital_status", "not_in", ["married"], ["widowed", "divorced"]),
    ("household_size", "eq", 4, 5), ("household_size", "ne", 5, 4), ("household_size", "lt", 5, 4),
    ("household_size", "le", 4, 3), ("household_size", "gt", 3, 4), ("household_size", "ge", 4, 5),
    ("income_band", "eq", "bpl", "apl"), ("income_band", "ne", "apl", "bpl"),
    ("income_band", "in", ["bpl", "aay"], ["apl"]), ("income_band", "not_in", ["apl"], ["bpl", "aay"]),
    # area within: the ward itself, an ancestor, one of several; not a sibling ward, another country, or a
    # prefix that is not an ancestor (BD-40-87-90-54-0 is not above BD-40-87-90-54-08).
    ("area", "within", [WARD], ["BD-40-87-90-54-07"]), ("area", "within", ["BD-40-87-90"], ["IN"]),
    ("area", "within", ["IN-23", "BD"], ["BD-40-87-90-54-0"]),
]


@pytest.mark.parametrize(("attr", "op", "yes", "no"), DECIDING, ids=[f"{a}-{o}-{y}" for a, o, y, _ in DECIDING])
def test_every_attribute_and_operator_decides_on_a_known_fact(attr: str, op: str, yes: Any, no: Any) -> None:
    assert judge({"attr": attr, "op": op, "value": yes}) == (True, [])
    assert judge({"attr": attr, "op": op, "value": no}) == (False, [])


def test_the_table_covers_every_attribute_with_every_operator_it_allows() -> None:
    assert {(a, o) for a, o, _, _ in DECIDING} == {(a, o) for a, (_, ops) in ATTRIBUTES.items() for o in ops}


def test_a_person_without_a_disability_is_not_disabled_and_that_is_never_unknown() -> None:
    assert judge({"attr": "disabled", "op": "eq", "value": False}, UNKNOWN) == (True, [])
    assert judge({"attr": "disabled", "op": "eq", "value": True}, UNKNOWN) == (False, [])
    assert judge({"attr": "disabled", "op": "eq", "value": True}, replace(RAHIMA, disability="")) == (False, [])


@pytest.mark.parametrize("condition", [
    {"attr": "age", "op": "ge", "value": 60},
    {"attr": "age", "op": "ne", "value": 60},
    {"attr": "disability", "op": "eq", "value": "visual"},
    {"attr": "disability", "op": "not_in", "value": ["visual"]},
    {"attr": "pregnant", "op": "eq", "value": False},
    {"attr": "marital_status", "op": "eq", "value": "widowed"},
    {"attr": "marital_status", "op": "ne", "value": "widowed"},
    {"attr": "household_size", "op": "le", "value": 5},
    {"attr": "income_band", "op": "in", "value": ["bpl"]},
    {"attr": "income_band", "op": "not_in", "value": ["bpl"]},
])
def test_a_condition_on_a_missing_fact_is_unknown_never_eligible_and_names_the_fact(condition: dict[str, Any]
                                                                                    ) -> None:
    # "not equal" and "not in" do not make an unknown fact eligible either: the registry may not have asked.
    assert judge(condition, UNKNOWN) == (False, [condition["attr"]])


def test_unknown_facts_are_named_only_when_they_would_decide() -> None:
    age, marital = {"attr": "age", "op": "ge", "value": 65}, {"attr": "marital_status", "op": "eq", "value": "widowed"}
    female, male = {"attr": "sex", "op": "eq", "value": "female"}, {"attr": "sex", "op": "eq", "value": "male"}
    # all: a false condition decides (no need to ask); otherwise the missing facts are named, sorted.
    assert evaluate(parse_rule({"all": [female, age]}), UNKNOWN).unknown == []
    assert evaluate(parse_rule({"all": [male, marital, age]}), UNKNOWN).unknown == ["age", "marital_status"]
    # any: a true condition decides; otherwise the missing facts are named.
    verdict = evaluate(parse_rule({"any": [male, age]}), UNKNOWN)
    assert verdict.eligible and verdict.unknown == []
    verdict = evaluate(parse_rule({"any": [female, age]}), UNKNOWN)
    assert not verdict.eligible and verdict.unknown == ["age"]
    # Nested: age >= 65 and (female or disabled), as the old-age allowance reads.
    oaa = parse_rule({"all": [age, {"any": [female, {"attr": "disabled", "op": "eq", "value": True}]}]})
    assert evaluate(oaa, RAHIMA).eligible
    assert evaluate(oaa, replace(RAHIMA, sex="male", disability=None)).unknown == []
    assert evaluate(oaa, replace(RAHIMA, age=None)).unknown == ["age"]


def test_empty_groups_mean_everyone_or_no_one() -> None:
    assert evaluate(parse_rule({"all": []}), UNKNOWN).eligible
    assert not evaluate(parse_rule({"any": []}), RAHIMA).eligible


@pytest.mark.parametrize(("data", "message"), [
    ({"attr": "caste", "op": "eq", "value": "x"}, "unknown attribute"),
    ({"attr": "age", "op": "in", "value": ["60"]}, "age allows operators"),
    ({"attr": "sex", "op": "lt", "value": "female"}, "sex allows operators"),
    ({"attr": "area", "op": "eq", "value": WARD}, "area allows operators"),
    ({"attr": "disabled", "op": "ne", "value": True}, "disabled allows operators"),
    ({"attr": "age", "op": "ge", "value": "sixty"}, "needs a int"),
    ({"attr": "age", "op": "ge", "value": True}, "needs a int"),
    ({"attr": "age", "op": "ge", "value": 201}, "needs a int"),
    ({"attr": "pregnant", "op": "eq", "value": "yes"}, "needs a bool"),
    ({"attr": "sex", "op": "in", "value": "female"}, "list of 1-50 texts"),
    ({"attr": "sex", "op": "in", "value": []}, "list of 1-50 texts"),
    ({"attr": "area", "op": "within", "value": [f"BD-{i}" for i in range(51)]}, "list of 1-50 texts"),
])
def test_a_malformed_condition_is_refused_with_the_reason(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Condition.model_validate(data)


def test_a_group_has_one_kind_and_nests_at_most_four_deep() -> None:
    with pytest.raises(ValidationError, match="exactly one of 'all' or 'any'"):
        parse_rule({"all": [], "any": []})
    with pytest.raises(ValidationError, match="exactly one of 'all' or 'any'"):
        parse_rule({})
    four: dict[str, Any] = {"all": [{"any": [{"all": [{"any": [{"attr": "age", "op": "ge", "value": 1}]}]}]}]}
    assert parse_rule(four)
    with pytest.raises(ValueError, match="at most 4 groups deep"):
        parse_rule({"all": [four]})


def test_age_counts_whole_years_from_the_birth_date_else_the_birth_year() -> None:
    assert age_on(date(1956, 12, 7), None, ON) == 70  # birthday today
    assert age_on(date(1956, 12, 8), None, ON) == 69  # birthday tomorrow
    assert age_on(date(1956, 12, 8), 1900, ON) == 69  # the date wins over the year
    assert age_on(None, 1956, ON) == 70
    assert age_on(None, None, ON) is None


fact_values = st.builds(
    Facts, age=st.none() | st.integers(0, 120), sex=st.sampled_from(["female", "male", "other"]),
    disability=st.none() | st.sampled_from(["", "visual", "locomotor"]), pregnant=st.none() | st.booleans(),
    marital_status=st.none() | st.sampled_from(["never_married", "married", "widowed"]),
    household_size=st.none() | st.integers(1, 12), income_band=st.none() | st.sampled_from(["bpl", "apl", "aay"]),
    area=st.sampled_from([WARD, "BD-40-87-90-54-07", "IN-23-0456"]))


@given(facts=fact_values, threshold=st.integers(0, 120), bands=st.lists(st.sampled_from(["bpl", "apl", "aay"]),
                                                                        min_size=1, max_size=3))
def test_opposite_operators_split_every_known_fact_and_neither_holds_for_an_unknown_one(
        facts: Facts, threshold: int, bands: list[str]) -> None:
    for attr, pairs in (("age", [("lt", "ge"), ("le", "gt"), ("eq", "ne")]), ("income_band", [("in", "not_in")])):
        value: Any = bands if attr == "income_band" else threshold
        for op, opposite in pairs:
            one = judge({"attr": attr, "op": op, "value": value}, facts)
            other = judge({"attr": attr, "op": opposite, "value": value}, facts)
            if getattr(facts, attr) is None:
                assert one == other == (False, [attr])
            else:
                assert one[0] != other[0] and one[1] == other[1] == []


@given(facts=fact_values, threshold=st.integers(0, 120))
def test_an_any_of_one_and_an_all_of_one_answer_as_the_condition(facts: Facts, threshold: int) -> None:
    condition = {"attr": "age", "op": "ge", "value": threshold}
    alone = evaluate(parse_rule({"all": [condition]}), facts)
    assert evaluate(parse_rule({"any": [condition]}), facts) == alone
    assert evaluate(parse_rule({"all": [{"any": [{"all": [condition]}]}]}), facts) == alone


# ---------------------------------------------------------------- periods


VALID_FROM, VALID_TO = date(2020, 4, 1), date(2030, 3, 31)


def span(frequency: str, period: str, valid_to: date | None = VALID_TO) -> tuple[date, date]:
    return period_range(frequency, period, valid_from=VALID_FROM, valid_to=valid_to)


def test_every_period_format_covers_its_dates() -> None:
    assert span("monthly", "2026-11") == (date(2026, 11, 1), date(2026, 11, 30))
    assert span("monthly", "2028-02") == (date(2028, 2, 1), date(2028, 2, 29))  # a leap year
    assert span("monthly", "2026-12") == (date(2026, 12, 1), date(2026, 12, 31))
    assert span("quarterly", "2026-Q1") == (date(2026, 1, 1), date(2026, 3, 31))
    assert span("quarterly", "2026-Q4") == (date(2026, 10, 1), date(2026, 12, 31))
    assert span("yearly", "2026") == (date(2026, 1, 1), date(2026, 12, 31))
    assert span("one_time", "once") == (VALID_FROM, VALID_TO)  # the scheme's whole validity
    assert span("one_time", "once", valid_to=None) == (VALID_FROM, FAR_FUTURE)


@pytest.mark.parametrize(("frequency", "period", "reason"), [
    ("monthly", "2026-13", "YYYY-MM"), ("monthly", "2026-00", "YYYY-MM"), ("monthly", "2026-1", "YYYY-MM"),
    ("monthly", "2026", "YYYY-MM"), ("monthly", "2026-Q4", "YYYY-MM"), ("monthly", "November", "YYYY-MM"),
    ("monthly", "1999-12", "between 2000 and 2099"),
    ("quarterly", "2026-Q5", "YYYY-Qn"), ("quarterly", "2026-Q0", "YYYY-Qn"), ("quarterly", "2026-q4", "YYYY-Qn"),
    ("quarterly", "2026-11", "YYYY-Qn"), ("quarterly", "2100-Q1", "between 2000 and 2099"),
    ("yearly", "26", "YYYY"), ("yearly", "2026-11", "YYYY"), ("yearly", "once", "YYYY"),
    ("yearly", "1999", "between 2000 and 2099"),
    ("one_time", "2026", "'once'"), ("one_time", "ONCE", "'once'"),
    ("fortnightly", "2026-11", "unknown frequency"),
])
def test_a_period_in_the_wrong_format_for_the_frequency_is_refused(frequency: str, period: str, reason: str) -> None:
    with pytest.raises(InvalidPeriod, match=reason):
        span(frequency, period)


@given(day=st.dates(date(2000, 1, 1), date(2099, 12, 31)),
       frequency=st.sampled_from(["monthly", "quarterly", "yearly", "one_time"]))
def test_the_current_period_of_a_day_contains_that_day(day: date, frequency: str) -> None:
    start, end = period_range(frequency, current_period(frequency, day), valid_from=date(2000, 1, 1), valid_to=None)
    assert start <= day <= end


@given(day=st.dates(date(2000, 1, 1), date(2099, 12, 30)), frequency=st.sampled_from(["monthly", "quarterly",
                                                                                     "yearly"]))
def test_consecutive_periods_tile_the_calendar(day: date, frequency: str) -> None:
    start, end = span(frequency, current_period(frequency, day))
    if end < date(2099, 12, 31):
        after = span(frequency, current_period(frequency, end + timedelta(days=1)))
        assert after[0] == end + timedelta(days=1)
    assert start.day == 1


# ---------------------------------------------------------------- exclusivity


NOV, DEC = (date(2026, 11, 1), date(2026, 11, 30)), (date(2026, 12, 1), date(2026, 12, 31))
Q4, YEAR = (date(2026, 10, 1), date(2026, 12, 31)), (date(2026, 1, 1), date(2026, 12, 31))
A, A_DUP, B = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()  # A_DUP: a record the registry linked to A
HH, OTHER_HH = uuid.uuid4(), uuid.uuid4()


def given_(scheme: str, person: uuid.UUID | None, household: uuid.UUID | None, when: tuple[date, date]) -> Grant:
    return Grant(uuid.uuid4(), scheme, person, household, *when)


def candidate(scheme: str, persons: set[uuid.UUID], household: uuid.UUID | None, when: tuple[date, date],
              beneficiary: str = "person") -> Candidate:
    return Candidate(scheme, beneficiary, frozenset(persons), household, *when)


def rules_broken(cand: Candidate, rules: Exclusivity, *grants: Grant) -> list[str]:
    return [c.rule for c in conflicts(cand, rules, list(grants))]


def test_per_person_is_once_per_human_per_period() -> None:
    rules = Exclusivity(per_person=True)
    paid = given_("BD-OAA", A, HH, NOV)
    assert rules_broken(candidate("BD-OAA", {A}, HH, NOV), rules, paid) == ["per_person"]
    # The same human under a linked or merged record: the candidate carries every record of the human.
    assert rules_broken(candidate("BD-OAA", {A_DUP, A}, None, NOV), rules, paid) == ["per_person"]
    assert rules_broken(candidate("BD-OAA", {A}, HH, DEC), rules, paid) == []  # another month
    assert rules_broken(candidate("BD-OAA", {B}, OTHER_HH, NOV), rules, paid) == []  # another person
    assert rules_broken(candidate("BD-OAA", {A}, HH, NOV), Exclusivity(per_person=False), paid) == []
    # Periods of other frequencies are compared by their dates: a yearly grant covers November.
    assert rules_broken(candidate("BD-OAA", {A}, HH, NOV), rules, given_("BD-OAA", A, HH, YEAR)) == ["per_person"]


def test_per_household_is_once_per_household_per_period_whoever_received_it() -> None:
    rules = Exclusivity(per_person=True, per_household=True)
    wife_paid = given_("IN-PDS", A, HH, NOV)
    # Another member of the same household: a per_household conflict (not per_person: another human).
    found = conflicts(candidate("IN-PDS", {B}, HH, NOV), rules, [wife_paid])
    assert [(c.rule, c.other_entry_ids) for c in found] == [("per_household", (wife_paid.id,))]
    assert rules_broken(candidate("IN-PDS", {B}, HH, NOV), Exclusivity(per_person=True), wife_paid) == []
    assert rules_broken(candidate("IN-PDS", {B}, OTHER_HH, NOV), rules, wife_paid) == []
    assert rules_broken(candidate("IN-PDS", {B}, HH, DEC), rules, wife_paid) == []
    assert rules_broken(candidate("IN-PDS", {B}, None, NOV), rules, wife_paid) == []  # no household known
    # A household scheme's per_person means "this household": the grant to the household conflicts.
    household_grant = given_("BD-VGF", None, HH, Q4)
    assert rules_broken(candidate("BD-VGF", set(), HH, NOV, "household"), Exclusivity(per_person=True),
                        household_grant) == ["per_person"]


def test_not_with_holds_both_ways_when_both_schemes_name_each_other() -> None:
    widow_paid, oaa_paid = given_("BD-WIDOW", A, HH, NOV), given_("BD-OAA", A, HH, NOV)
    oaa_rules = Exclusivity(per_person=True, not_with=["BD-WIDOW"])
    assert rules_broken(candidate("BD-OAA", {A}, HH, NOV), oaa_rules, widow_paid) == ["not_with"]
    assert rules_broken(candidate("BD-OAA", {A_DUP, A}, None, NOV), oaa_rules, widow_paid) == ["not_with"]
    assert rules_broken(candidate("BD-OAA", {A}, HH, DEC), oaa_rules, widow_paid) == []
    assert rules_broken(candidate("BD-OAA", {B}, HH, NOV), oaa_rules, widow_paid) == []  # a housemate: no
    # The widow allowance's own rules do not name the old-age allowance: posting makes the pair symmetric
    # (service.posting._exclusivity adds the schemes whose rules name this one), which is this rule set.
    widow_rules = Exclusivity(per_person=True)
    assert rules_broken(candidate("BD-WIDOW", {A}, HH, NOV), widow_rules, oaa_paid) == []
    symmetric = Exclusivity(per_person=True, not_with=["BD-OAA"])
    assert rules_broken(candidate("BD-WIDOW", {A}, HH, NOV), symmetric, oaa_paid) == ["not_with"]
    # Both rules at once: the evidence names every grant, rule by rule.
    found = conflicts(candidate("BD-OAA", {A}, HH, NOV), oaa_rules, [widow_paid, oaa_paid])
    assert [(c.rule, c.other_entry_ids) for c in found] == [("not_with", (widow_paid.id,)),
                                                            ("per_person", (oaa_paid.id,))]


grant_strategy = st.builds(
    Grant, id=st.uuids(), scheme_code=st.sampled_from(["BD-OAA", "BD-WIDOW", "IN-PDS"]),
    person_id=st.none() | st.sampled_from([A, A_DUP, B]), household_id=st.none() | st.sampled_from([HH, OTHER_HH]),
    start=st.sampled_from([NOV[0], DEC[0], Q4[0]]), end=st.sampled_from([NOV[1], DEC[1], Q4[1]]))


@given(grants=st.lists(grant_strategy, max_size=12),
       persons=st.sets(st.sampled_from([A, A_DUP, B]), max_size=2), household=st.none() | st.sampled_from([HH]),
       scheme=st.sampled_from(["BD-OAA", "IN-PDS"]), per_household=st.booleans(),
       beneficiary=st.sampled_from(["person", "household"]))
def test_the_index_finds_the_same_conflicts_as_a_scan_of_every_grant(
        grants: list[Grant], persons: set[uuid.UUID], household: uuid.UUID | None, scheme: str,
        per_household: bool, beneficiary: str) -> None:
    cand = candidate(scheme, persons, household, NOV, beneficiary)
    rules = Exclusivity(per_person=True, per_household=per_household, not_with=["BD-WIDOW"])
    assert conflicts(cand, rules, GrantIndex(grants)) == conflicts(cand, rules, grants)
