"""The import's fast phone path agrees with phonenumbers wherever it answers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.registry.rules.identifiers import InvalidIdentifier, normalise_phone
from services.registry.rules.imports import fast_normalise_phone

digits = st.text(alphabet="0123456789", min_size=0, max_size=12)
ten = st.text(alphabet="0123456789", min_size=10, max_size=10)
regions = st.sampled_from(["BD", "IN"])
# The shapes the fast path looks at, with random digits (most are valid, many are not), plus noise.
candidates = st.one_of(
    st.builds(lambda d: "+880" + d, ten),
    st.builds(lambda d: "+91" + d, ten),
    st.builds(lambda d: "0" + d, ten),
    ten,
    st.builds(lambda d: "+880" + d, digits),
    st.builds(lambda d: "+91" + d, digits),
    st.builds(lambda d: "01" + d, digits),
    st.builds(lambda first, d: first + d, st.sampled_from("0123456789"), digits),
    st.text(alphabet="+0123456789 -١২৩", max_size=16),
)


def reference(raw: str, region: str) -> str | None:
    try:
        return normalise_phone(raw, region)
    except InvalidIdentifier:
        return None


@settings(max_examples=3000, deadline=None)
@given(candidates, regions)
def test_fast_path_answers_only_what_phonenumbers_answers(raw, region):
    fast = fast_normalise_phone(raw, region)
    if fast is not None:
        assert fast == reference(raw, region)


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("+8801712345678", "BD", "+8801712345678"),
    ("01712345678", "BD", "+8801712345678"),
    ("+8801712345678", "IN", "+8801712345678"),
    ("9876543210", "IN", "+919876543210"),
    ("+919876543210", "BD", "+919876543210"),
])
def test_common_mobile_forms_take_the_fast_path(raw, region, e164):
    assert fast_normalise_phone(raw, region) == e164 == reference(raw, region)


@pytest.mark.parametrize(("raw", "region"), [
    ("+880 1712-345678", "BD"),  # separators: phonenumbers decides
    ("01212345678", "BD"),  # not a mobile range
    ("1712345678", "BD"),  # no trunk 0
    ("029876543", "BD"),  # a Dhaka landline
    ("09876543210", "IN"),  # trunk 0
    ("+৮৮০১৭১২৩৪৫৬৭৮", "BD"),  # Bengali digits are translated before, never matched here
])
def test_other_forms_are_left_to_phonenumbers(raw, region):
    assert fast_normalise_phone(raw, region) is None
