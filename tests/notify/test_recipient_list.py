"""The uploaded recipient list reader (pure): any bytes give rows or named errors, never an exception;
valid rows come back in E.164, once per phone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.notify.rules.recipient_list import read_recipient_list

INDIAN_MOBILES = st.integers(min_value=6_000_000_000, max_value=9_999_999_999).map(str)
WARDS = st.integers(min_value=1, max_value=999_999).map(lambda n: f"IN-23-0456-{n}")


@given(st.binary(max_size=400))
def test_any_bytes_give_recipients_or_named_errors(data: bytes) -> None:
    read = read_recipient_list(b"phone,area_code\n" + data)
    assert read.recipients or read.errors
    assert all(e["field"] == "body" or e["field"] == "header" or e["field"].startswith("rows.") for e in read.errors)


@given(st.lists(st.tuples(INDIAN_MOBILES, WARDS, st.sampled_from(["", "0", "+91 "])), min_size=1, max_size=30))
def test_valid_rows_are_read_in_e164_once_per_phone(rows: list[tuple[str, str, str]]) -> None:
    sheet = "phone,area_code\n" + "".join(f"{prefix}{phone},{ward}\n" for phone, ward, prefix in rows)
    read = read_recipient_list(sheet.encode())
    assert not read.errors, read.errors
    distinct = list(dict.fromkeys(phone for phone, _, _ in rows))
    assert [r["phone"] for r in read.recipients] == [f"+91{p}" for p in distinct]
    assert read.duplicates == len(rows) - len(distinct)
