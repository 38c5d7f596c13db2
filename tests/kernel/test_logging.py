"""Logs are JSON, carry the request id, and never show a national ID or phone number in clear."""

import json
import logging

from hypothesis import given
from hypothesis import strategies as st

from kernel.context import request_id_var
from kernel.logging import JsonFormatter, mask_pii


def render(msg, *args, **extra):
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)
    for k, v in extra.items():
        setattr(record, k, v)
    return json.loads(JsonFormatter("registry").format(record))


def test_aadhaar_nid_brn_and_phones_are_masked():
    line = render(
        "lookup %s; %s; %s; %s; %s",
        "2345 6789 0123",  # Aadhaar with spaces
        "19901234567890123",  # BD BRN / 17-digit NID
        "+91 98765 43210",
        "01712345678",  # BD mobile
        "1234567890",  # 10-digit NID
    )["msg"]
    for clear in ("2345 6789 0123", "234567890123", "19901234567890123", "98765 43210", "9876543210",
                  "01712345678", "1234567890"):
        assert clear not in line
    assert line.count("0123") == 2 and "3210" in line and "5678" in line


def test_extra_fields_and_request_id():
    token = request_id_var.set("rid-1")
    try:
        line = render("called", phone="+8801712345678", nested={"ids": ["234567890123"]})
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "rid-1" and line["service"] == "registry"
    assert "+8801712345678" not in json.dumps(line)
    assert line["nested"]["ids"][0].endswith("0123")


def test_short_numbers_are_left_alone():
    assert mask_pii("ward 8, 1948 persons, 2026-11-23") == "ward 8, 1948 persons, 2026-11-23"


@given(st.text(alphabet="0123456789", min_size=10, max_size=17))
def test_any_long_digit_run_keeps_only_last_four(digits):
    masked = mask_pii(f"id={digits};")
    assert digits not in masked
    assert masked.endswith(digits[-4:] + ";")
