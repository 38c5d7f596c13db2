"""Administrative area codes that every service understands.

A code is the country followed by the official code of each level, joined by ``-``:

* India (LGD codes): ``IN-<state>-<district>-<block>-<gram panchayat>-<village>``,
  e.g. ``IN-23-0456-2210-123456-654321``
* Bangladesh (BBS geocodes): ``BD-<division>-<district>-<upazila>-<union>-<ward>``,
  e.g. ``BD-40-87-90-54-08``

"Is X inside Y" is then a prefix test.  Columns holding codes use the ``C`` collation so the
prefix test is a plain btree range scan (``code >= 'Y-' AND code < 'Y.'``, since ``.`` sorts
right after ``-``), with no extension and no ``LIKE`` index operator class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator
from sqlalchemy import ColumnElement, String, and_, false, or_

SEPARATOR = "-"
_AFTER_SEPARATOR = chr(ord(SEPARATOR) + 1)

LEVELS: dict[str, tuple[str, ...]] = {
    "IN": ("country", "state", "district", "block", "gram_panchayat", "village"),
    "BD": ("country", "division", "district", "upazila", "union", "ward"),
}
# Official code widths per level (digits), index 1.. matching LEVELS.
_WIDTHS: dict[str, tuple[tuple[int, int], ...]] = {
    "IN": ((1, 2), (1, 4), (1, 5), (1, 6), (1, 6)),
    "BD": ((2, 2), (2, 2), (2, 2), (2, 2), (1, 2)),
}
_SEGMENT = re.compile(r"^\d+$")
AREA_CODE_COLLATION = "C"


class InvalidAreaCode(ValueError):
    pass


@dataclass(frozen=True)
class AreaCode:
    value: str

    @property
    def country(self) -> str:
        return self.value.split(SEPARATOR, 1)[0]

    @property
    def depth(self) -> int:
        return self.value.count(SEPARATOR)

    @property
    def level(self) -> str:
        return LEVELS[self.country][self.depth]

    @property
    def parent(self) -> AreaCode | None:
        if self.depth == 0:
            return None
        return AreaCode(self.value.rsplit(SEPARATOR, 1)[0])

    def ancestors(self) -> list[AreaCode]:
        """From the country down to (not including) this area."""
        parts = self.value.split(SEPARATOR)
        return [AreaCode(SEPARATOR.join(parts[:i])) for i in range(1, len(parts))]

    def contains(self, other: AreaCode | str) -> bool:
        return is_within(str(other), self.value)

    def __str__(self) -> str:
        return self.value


def parse_area_code(raw: str) -> AreaCode:
    value = raw.strip().upper()
    parts = value.split(SEPARATOR)
    country = parts[0]
    if country not in LEVELS:
        raise InvalidAreaCode(f"unknown country {country!r}; expected one of {', '.join(LEVELS)}")
    widths = _WIDTHS[country]
    if len(parts) - 1 > len(widths):
        raise InvalidAreaCode(f"{country} area codes have at most {len(widths)} levels below the country")
    for index, segment in enumerate(parts[1:]):
        low, high = widths[index]
        level = LEVELS[country][index + 1]
        if not _SEGMENT.match(segment) or not low <= len(segment) <= high:
            raise InvalidAreaCode(f"{level} code {segment!r} must be {low}-{high} digits")
    return AreaCode(value)


def _validate(raw: str) -> str:
    try:
        return parse_area_code(raw).value
    except InvalidAreaCode as exc:
        raise ValueError(str(exc)) from exc


AreaCodeStr = Annotated[str, AfterValidator(_validate)]


def is_within(code: str, ancestor: str) -> bool:
    """True when ``code`` is ``ancestor`` or lies beneath it."""
    return code == ancestor or code.startswith(ancestor + SEPARATOR)


def is_within_any(code: str, scopes: list[str] | tuple[str, ...]) -> bool:
    return any(is_within(code, scope) for scope in scopes)


def ancestor_codes(scopes: list[str] | tuple[str, ...]) -> set[str]:
    """Every strict ancestor of the given codes (the path from the country down to each)."""
    out: set[str] = set()
    for scope in scopes:
        parts = scope.split(SEPARATOR)
        out.update(SEPARATOR.join(parts[:i]) for i in range(1, len(parts)))
    return out


def within(column: Any, ancestor: str) -> ColumnElement[bool]:
    """SQL for "column is ancestor or beneath it", as an index-friendly range."""
    col = column
    return or_(
        col == ancestor,
        and_(col >= ancestor + SEPARATOR, col < ancestor + _AFTER_SEPARATOR),
    )


def within_any(column: Any, scopes: list[str] | tuple[str, ...]) -> ColumnElement[bool]:
    """SQL for :func:`is_within_any`.  An empty scope matches nothing: ``or_()`` of no terms would
    be dropped from the WHERE clause by SQLAlchemy and match everything."""
    if not scopes:
        return false()
    return or_(*(within(column, scope) for scope in scopes))


def area_code_type() -> String:
    return String(64, collation=AREA_CODE_COLLATION)
