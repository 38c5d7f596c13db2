"""An uploaded recipient list (CSV) read into a campaign audience's ``recipients``, every row checked.

Pure: bytes in, rows and per-row errors out.  Phones may be written the way an office's sheet has them
(``09812345678``, ``98123 45678``, ``+91 98123 45678``): each is read in the country of its row's area
and kept in E.164.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from kernel.identifiers import InvalidIdentifier, normalise_phone

REQUIRED = ("phone", "area_code")
OPTIONAL = ("language", "name")
LANGUAGES = frozenset({"en", "hi", "bn"})
AREA_CODE = re.compile(r"^(IN|BD)(-[0-9]{1,6}){0,5}$")  # the schemas' AreaCode, in a country we serve
MAX_ROWS = 50_000
MAX_ERRORS = 50  # an answer names this many rows at most; the count says how many there were


@dataclass
class RecipientList:
    recipients: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    rows_with_errors: int = 0
    duplicates: int = 0  # the same phone again: kept once


def header_problems(header: list[str]) -> list[dict[str, str]]:
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    unknown = [h for h in names if h and h not in REQUIRED + OPTIONAL]
    return ([{"field": "header", "reason": f"missing column {c}"} for c in missing]
            + [{"field": "header", "reason": f"unknown column {c} (columns: phone, area_code, language, name)"}
               for c in unknown])


def read_recipient_list(data: bytes) -> RecipientList:
    """Rows of ``phone, area_code[, language][, name]``; row numbers count the header as row 1."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return RecipientList(errors=[{"field": "body", "reason": "not UTF-8 text (save the sheet as CSV UTF-8)"}])
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return RecipientList(errors=[{"field": "body", "reason": "empty: a header row and one row per recipient"}])
    problems = header_problems(header)
    if problems:
        return RecipientList(errors=problems)
    names = [h.strip().lower() for h in header]
    out, seen = RecipientList(), set[str]()
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue  # blank lines at the end of a sheet
        if len(out.recipients) + out.rows_with_errors >= MAX_ROWS:
            out.errors = [{"field": "body", "reason": f"more than {MAX_ROWS:,} recipients: send it in parts"}]
            return out
        row = dict(zip(names, (c.strip() for c in cells), strict=False))
        recipient, errors = _recipient(row, number, extra=len(cells) > len(names))
        if errors:
            out.rows_with_errors += 1
            out.errors.extend(errors[: max(MAX_ERRORS - len(out.errors), 0)])
        elif recipient["phone"] in seen:
            out.duplicates += 1
        else:
            seen.add(recipient["phone"])
            out.recipients.append(recipient)
    if not out.recipients and not out.errors:
        out.errors = [{"field": "body", "reason": "no recipients: a header row and one row per recipient"}]
    return out


def _recipient(row: dict[str, str], number: int, *, extra: bool) -> tuple[dict[str, Any], list[dict[str, str]]]:
    errors: list[dict[str, str]] = []

    def fail(column: str, reason: str) -> None:
        errors.append({"field": f"rows.{number}.{column}", "reason": reason})

    if extra:
        fail("row", "more cells than the header has columns")
    area = row.get("area_code", "")
    if not AREA_CODE.match(area):
        fail("area_code", "an area code such as IN-23-0456 or BD-40-87-90")
    phone = ""
    raw_phone = row.get("phone", "")
    if "\x00" in raw_phone or not raw_phone:
        fail("phone", "a phone number is needed")
    elif AREA_CODE.match(area):
        try:
            phone = normalise_phone(raw_phone, area[:2])
        except InvalidIdentifier as exc:
            fail("phone", str(exc))
    language = row.get("language") or None
    if language is not None and language not in LANGUAGES:
        fail("language", "en, hi or bn (or empty for the recipient's default)")
    name = row.get("name") or None
    if name is not None and (len(name) > 100 or "\x00" in name):
        fail("name", "at most 100 characters")
    recipient = {"phone": phone, "area_code": area, "language": language, "name": name}
    return recipient, errors
