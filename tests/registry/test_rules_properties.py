"""Property tests of the pure rules: identifier validators, names, the survey state machine, ages."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from stdnum import verhoeff as stdnum_verhoeff
from stdnum.in_ import aadhaar as stdnum_aadhaar

from services.registry.rules import survey
from services.registry.rules.ages import AgeEvidence, Answer, check_legal_age
from services.registry.rules.identifiers import (
    IdType,
    InvalidIdentifier,
    check_birth_year,
    mask,
    parse_identifier,
    verhoeff_check_digit,
    verhoeff_checksum,
)
from services.registry.rules.names import name_key
from services.registry.rules.survey import SurveyAction, SurveyState, SurveyStatus

digits = st.text(alphabet="0123456789", min_size=1, max_size=20)
TODAY = date(2026, 11, 23)


@given(digits)
def test_verhoeff_agrees_with_python_stdnum(number):
    assert (verhoeff_checksum(number) == 0) == stdnum_verhoeff.is_valid(number)


@given(st.text(alphabet="0123456789", min_size=1, max_size=15))
def test_appending_the_check_digit_always_validates(body):
    assert verhoeff_checksum(body + verhoeff_check_digit(body)) == 0


@given(st.text(alphabet="0123456789", min_size=11, max_size=11), st.integers(0, 10), st.integers(1, 9))
def test_verhoeff_catches_every_single_digit_error(body, position, delta):
    number = body + verhoeff_check_digit(body)
    wrong = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1:]
    assert verhoeff_checksum(wrong) != 0


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_aadhaar_agrees_with_stdnum_except_its_palindrome_rule(number):
    ours = _valid(IdType.AADHAAR, number)
    theirs = stdnum_aadhaar.is_valid(number)
    if number != number[::-1]:
        assert ours == theirs
    if ours:
        assert parse_identifier(IdType.AADHAAR, f"{number[:4]} {number[4:8]} {number[8:]}").value == number


def _valid(kind: IdType, value: str) -> bool:
    try:
        parse_identifier(kind, value, today=TODAY)
    except InvalidIdentifier:
        return False
    return True


@given(st.integers(1900, 2026), st.text(alphabet="0123456789", min_size=13, max_size=13))
def test_nid_13_and_17_forms_share_one_matching_key(year, nid13):
    long = parse_identifier(IdType.BD_NID, f"{year}{nid13}", today=TODAY)
    short = parse_identifier(IdType.BD_NID, nid13, today=TODAY)
    assert long.match_key == short.match_key and long.birth_year == year and short.birth_year is None


@given(st.text(alphabet="0123456789", min_size=1, max_size=25))
def test_nid_lengths(value):
    assert _valid(IdType.BD_NID, value) == (len(value) in (10, 13) or (len(value) == 17 and 1900 <= int(value[:4]) <= 2026))


@given(st.text(alphabet="0123456789", min_size=1, max_size=25))
def test_brn_is_17_digits_with_a_plausible_year(value):
    assert _valid(IdType.BD_BRN, value) == (len(value) == 17 and 1900 <= int(value[:4]) <= 2026)


def test_16_digit_brn_names_the_fix():
    with pytest.raises(InvalidIdentifier, match="re-register"):
        parse_identifier(IdType.BD_BRN, "1979091216610014")


@given(st.integers(1900, 2026), st.dates(date(1900, 1, 1), TODAY))
def test_exact_dob_must_match_the_year_prefix(year, dob):
    parsed = parse_identifier(IdType.BD_BRN, f"{year}0912166100145", today=TODAY)
    assert (check_birth_year(parsed, dob, estimated=False) is None) == (dob.year == year)


@given(st.text(min_size=4, max_size=30))
def test_mask_shows_only_the_last_four(value):
    masked = mask(value)
    assert masked.startswith("XXXX XXXX ") and masked.endswith(value[-4:])


@pytest.mark.parametrize(("a", "b"), [
    ("রহিম", "Rahim"), ("रहीम", "Raheem"), ("লক্ষ্মী", "Laxmi"), ("लक्ष्मी", "Lakshmi"), ("বিশ্বাস", "Biswas"),
    ("संजय", "Sanjay"), ("মোঃ আব্দুর রহিম", "Md. Abdur Rahim"), ("Mohammad Abdur Rahim", "Abdur Rahim"),
    ("চৌধুরী", "Chowdhury"), ("দেবনাথ", "Debnath"), ("ফাতেমা বেগম", "Fatema"),
])
def test_spellings_across_scripts_share_a_key(a, b):
    assert name_key(a) == name_key(b) != ""


def test_different_names_differ():
    assert name_key("Rahim") != name_key("Karim") and name_key("Sumi") != name_key("Rumi")


# ------------------------------------------------------------------------------------ survey machine


class SurveyMachine(RuleBasedStateMachine):
    """Random action sequences never reach approved without a verify after the last edit."""

    def __init__(self) -> None:
        super().__init__()
        self.state = SurveyState()
        self.verified_since_edit = False

    @rule(action=st.sampled_from(list(SurveyAction)), reason=st.one_of(st.none(), st.just(""), st.text(min_size=1)))
    def act(self, action: SurveyAction, reason: str | None) -> None:
        before = self.state
        try:
            self.state = survey.apply(before, action, reason=reason)
        except survey.InvalidTransition:
            assert (before.status, action) not in survey.TRANSITIONS or (
                action is SurveyAction.RETURN and not (reason or "").strip())
            return
        if action is SurveyAction.EDIT:
            self.verified_since_edit = False
            assert self.state.status is SurveyStatus.COLLECTED
        if action is SurveyAction.VERIFY:
            assert before.status is SurveyStatus.COLLECTED
            self.verified_since_edit = True
        if action is SurveyAction.APPROVE:
            assert before.status is SurveyStatus.VERIFIED and self.verified_since_edit
        if action is SurveyAction.RETURN:
            self.verified_since_edit = False

    @invariant()
    def returned_has_a_reason(self) -> None:
        assert (self.state.status is SurveyStatus.RETURNED) == (self.state.return_reason is not None)
        if self.state.return_reason is not None:
            assert self.state.return_reason.strip()

    @invariant()
    def approved_only_after_verification(self) -> None:
        if self.state.status is SurveyStatus.APPROVED:
            assert self.verified_since_edit


TestSurveyMachine = SurveyMachine.TestCase
TestSurveyMachine.settings = settings(max_examples=200, stateful_step_count=25, deadline=None)


# ------------------------------------------------------------------------------------ ages


@given(st.dates(date(1950, 1, 1), TODAY), st.sampled_from(["female", "male"]), st.booleans())
def test_age_answer_is_never_wrong_about_the_true_age(dob, sex, estimated):
    """With an exact DOB the answer is exact; with an estimate it is yes/no only when certain."""
    legal = 18 if sex == "female" else 21
    answer, threshold = check_legal_age(AgeEvidence(dob, estimated, "self_declared"), country="BD", sex=sex,
                                        today=TODAY)
    assert threshold == legal
    true_age = TODAY.year - dob.year - ((TODAY.month, TODAY.day) < (dob.month, dob.day))
    if not estimated:
        assert answer == (Answer.YES if true_age >= legal else Answer.NO)
    elif answer is Answer.YES:
        assert true_age - 2 >= legal
    elif answer is Answer.NO:
        assert true_age + 2 < legal
