"""Translate DCI queries (``idtype-value``, ``expression``, ``predicate``) into SQL conditions on persons.

Attributes callers may query and how they map to our columns are listed in :data:`ATTRIBUTES`;
anything else is refused with a reason (never silently ignored, which would widen a search).
The caller's area scope is added by the search itself, never by the query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, not_, or_, select

from kernel.areas import InvalidAreaCode, parse_area_code, within
from services.registry.models import identifier, person
from services.registry.rules.identifiers import IdType, InvalidIdentifier, parse_identifier
from services.registry.rules.names import name_key
from services.registry.service.identifiers import lookup_hash

MAX_CONDITIONS = 20
MAX_DEPTH = 6

# DCI identifier type names (case and punctuation ignored; a namespace prefix is dropped) -> ours.
ID_TYPES_IN: dict[str, tuple[IdType, ...]] = {
    "UIN": (IdType.AADHAAR, IdType.BD_NID),
    "NATIONALID": (IdType.AADHAAR, IdType.BD_NID),
    "AADHAAR": (IdType.AADHAAR,),
    "NID": (IdType.BD_NID,),
    "BDNID": (IdType.BD_NID,),
    "BRN": (IdType.BD_BRN,),
    "BDBRN": (IdType.BD_BRN,),
    "MOBILE": (IdType.PHONE,),
    "PHONE": (IdType.PHONE,),
    "MSISDN": (IdType.PHONE,),
    "RATIONCARD": (IdType.RATION_CARD,),
    "VOTERID": (IdType.VOTER_ID,),
    "EPIC": (IdType.VOTER_ID,),
}
ID_TYPES_OUT: dict[str, str] = {
    "aadhaar": "AADHAAR", "bd_nid": "NID", "bd_brn": "BRN", "phone": "MOBILE",
    "ration_card": "RATION_CARD", "voter_id": "VOTER_ID",
}
SEXES_IN = {"m": "male", "male": "male", "f": "female", "female": "female", "o": "other", "other": "other",
            "u": "unknown", "unknown": "unknown"}


class QueryError(ValueError):
    """The query cannot be run; ``reason`` is safe to return as the status_reason_message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _normalise_type(raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise QueryError("the identifier type must be a non-empty string")
    return re.sub(r"[^A-Z0-9]", "", raw.rsplit(":", 1)[-1].upper())


def id_types(raw: Any) -> tuple[IdType, ...]:
    types = ID_TYPES_IN.get(_normalise_type(raw))
    if types is None:
        raise QueryError(f"unknown identifier type {raw!r}; use one of {', '.join(sorted(ID_TYPES_OUT.values()))}, UIN")
    return types


def id_hashes(raw_type: Any, raw_value: Any) -> list[tuple[str, str]]:
    """(our type, lookup hash) for every reading of the value that is a valid identifier."""
    if isinstance(raw_value, bool) or not isinstance(raw_value, str | int):
        raise QueryError("the identifier value must be a string")
    value = str(raw_value)
    out: list[tuple[str, str]] = []
    reasons: list[str] = []
    for kind in id_types(raw_type):
        for region in ("IN", "BD") if kind is IdType.PHONE else ("IN",):
            try:
                parsed = parse_identifier(kind, value, region=region)
            except InvalidIdentifier as exc:
                reasons.append(exc.reason)
                continue
            out.append((parsed.id_type.value, lookup_hash(parsed.id_type.value, parsed.match_key)))
    if not out:
        raise QueryError(f"not a valid identifier: {reasons[0] if reasons else 'unknown type'}")
    return out


def holds_identifier(hashes: list[tuple[str, str]]) -> ColumnElement[bool]:
    return exists(
        select(identifier.c.id).where(
            identifier.c.person_id == person.c.id,
            identifier.c.ended_at.is_(None),
            or_(*(and_(identifier.c.id_type == t, identifier.c.lookup_hash == h) for t, h in hashes)),
        )
    )


# ------------------------------------------------------------------ attribute conditions
Op = str  # eq ne lt le gt ge in nin


def _compare(column: Any, op: Op, value: Any) -> ColumnElement[bool]:
    match op:
        case "eq":
            return column == value  # type: ignore[no-any-return]
        case "ne":
            return column != value  # type: ignore[no-any-return]
        case "lt":
            return column < value  # type: ignore[no-any-return]
        case "le":
            return column <= value  # type: ignore[no-any-return]
        case "gt":
            return column > value  # type: ignore[no-any-return]
        case "ge":
            return column >= value  # type: ignore[no-any-return]
    raise QueryError(f"operator {op!r} is not supported here")


def _values(op: Op, value: Any) -> list[Any]:
    if op in ("in", "nin"):
        if not isinstance(value, list) or not value or len(value) > 100:
            raise QueryError(f"operator {op!r} needs a list of 1-100 values")
        return value
    return [value]


def _membership(
    op: Op, value: Any, one: Callable[[Any], ColumnElement[bool]], ordered: Any = None
) -> ColumnElement[bool]:
    """eq/ne/in/nin through ``one`` (value -> condition); the order operators through ``ordered``."""
    if op in ("eq", "in"):
        return or_(*(one(v) for v in _values(op, value)))
    if op in ("ne", "nin"):
        return not_(or_(*(one(v) for v in _values(op, value))))
    if ordered is None:
        raise QueryError(f"operator {op!r} is not supported for this attribute")
    return ordered(op, value)  # type: ignore[no-any-return]


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise QueryError(f"{what} must be a whole number")
    try:
        number = int(str(value))
    except ValueError as exc:
        raise QueryError(f"{what} must be a whole number") from exc
    if not 0 <= number <= 3000:
        raise QueryError(f"{what} is out of range")
    return number


def _date(value: Any, what: str) -> date:
    try:
        text = str(value)
        return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)
    except ValueError as exc:
        raise QueryError(f"{what} must be an ISO 8601 date") from exc


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise QueryError(f"{what} must be true or false")


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def _age(op: Op, value: Any, today: date) -> ColumnElement[bool]:
    """Age in whole years today, through the birth date (an index-friendly range)."""
    def at_least(n: int) -> ColumnElement[bool]:
        return person.c.birth_date <= _years_before(today, n)

    def below(n: int) -> ColumnElement[bool]:
        return person.c.birth_date > _years_before(today, n)

    def exactly(v: Any) -> ColumnElement[bool]:
        n = _int(v, "age")
        return and_(at_least(n), below(n + 1))

    def ordered(o: Op, v: Any) -> ColumnElement[bool]:
        n = _int(v, "age")
        return {"ge": at_least(n), "gt": at_least(n + 1), "lt": below(n), "le": below(n + 1)}[o]

    return _membership(op, value, exactly, ordered)


def _area(op: Op, value: Any) -> ColumnElement[bool]:
    def one(v: Any) -> ColumnElement[bool]:
        try:
            return within(person.c.area_code, parse_area_code(str(v)).value)
        except InvalidAreaCode as exc:
            raise QueryError(f"invalid area code {v!r}: {exc}") from exc

    return _membership(op, value, one)


def attribute_condition(name: Any, op: Op, value: Any, *, today: date | None = None) -> ColumnElement[bool]:
    if not isinstance(name, str):
        raise QueryError("attribute names must be strings")
    today = today or date.today()
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    if key in ("sex", "gender"):
        def sex(v: Any) -> ColumnElement[bool]:
            mapped = SEXES_IN.get(str(v).lower())
            if mapped is None:
                raise QueryError(f"unknown sex {v!r}: use male, female or other")
            return person.c.sex == mapped  # type: ignore[no-any-return]
        return _membership(op, value, sex)
    if key == "age":
        return _age(op, value, today)
    if key in ("birthdate", "dob"):
        return _membership(op, value, lambda v: person.c.birth_date == _date(v, name),
                           lambda o, v: _compare(person.c.birth_date, o, _date(v, name)))
    if key in ("yob", "birthyear"):
        return _membership(op, value, lambda v: person.c.birth_year == _int(v, name),
                           lambda o, v: _compare(person.c.birth_year, o, _int(v, name)))
    if key in ("areacode", "location", "area"):
        return _area(op, value)
    if key in ("isdisabled", "disabled", "disability"):
        return _membership(op, value, lambda v: person.c.disability.is_not(None) if _bool(v, name)
                           else person.c.disability.is_(None))
    if key in ("ispregnant", "pregnant"):
        return _membership(op, value, lambda v: person.c.pregnant.is_(_bool(v, name)))
    if key == "status":
        return _membership(op, value, lambda v: person.c.status == str(v).lower())
    if key == "name":
        return _membership(op, value, lambda v: person.c.name_key == name_key(str(v)))
    if key in ("registrationdate", "lastupdated"):
        column = person.c.created_at if key == "registrationdate" else person.c.updated_at
        return _membership(op, value, lambda v: column.cast(type_=person.c.birth_date.type) == _date(v, name),
                           lambda o, v: _compare(column, o, _date(v, name)))
    if key.upper() in ID_TYPES_IN:
        return _membership(op, value, lambda v: holds_identifier(id_hashes(name, v)))
    raise QueryError(f"attribute {name!r} cannot be queried")


# ------------------------------------------------------------------ the three query types
_MONGO_OPS = {"$eq": "eq", "$ne": "ne", "$lt": "lt", "$lte": "le", "$gt": "gt", "$gte": "ge",
              "$in": "in", "$nin": "nin"}


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_CONDITIONS

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise QueryError(f"a query may hold at most {MAX_CONDITIONS} conditions")


def _mongo(node: Any, budget: _Budget, depth: int = 0) -> ColumnElement[bool]:
    if depth > MAX_DEPTH:
        raise QueryError(f"a query may nest at most {MAX_DEPTH} levels")
    if not isinstance(node, dict) or not node:
        raise QueryError("each expression must be a non-empty object")
    parts: list[ColumnElement[bool]] = []
    for key, value in node.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise QueryError(f"{key} needs a non-empty list")
            children = [_mongo(child, budget, depth + 1) for child in value]
            parts.append(and_(*children) if key == "$and" else or_(*children))
        elif key == "$not":
            parts.append(not_(_mongo(value, budget, depth + 1)))
        elif key.startswith("$"):
            raise QueryError(f"operator {key!r} is not supported")
        elif isinstance(value, dict):
            for op, operand in value.items():
                if op not in _MONGO_OPS:
                    raise QueryError(f"operator {op!r} is not supported")
                budget.spend()
                parts.append(attribute_condition(key, _MONGO_OPS[op], operand))
        else:
            budget.spend()
            parts.append(attribute_condition(key, "eq", value))
    return and_(*parts)


def expression_condition(query: Any) -> ColumnElement[bool]:
    """``{"type": "ns:org:QueryType:expression", "value": {"expression": {"collection", "query"}}}``."""
    if not isinstance(query, dict):
        raise QueryError("an expression query must be an object")
    value = query.get("value", query)
    expression = value.get("expression", value) if isinstance(value, dict) else None
    if not isinstance(expression, dict) or not isinstance(expression.get("query"), dict):
        raise QueryError("the expression query needs value.expression.query")
    return _mongo(expression["query"], _Budget())


def predicate_condition(query: Any) -> ColumnElement[bool]:
    """A list of ``{seq_num, expression1, condition, expression2}``, all of which must hold (in seq order)."""
    if not isinstance(query, list) or not query or len(query) > MAX_CONDITIONS:
        raise QueryError(f"a predicate query must be a list of 1-{MAX_CONDITIONS} predicates")
    budget = _Budget()
    parts: list[ColumnElement[bool]] = []
    for item in sorted(query, key=lambda p: p.get("seq_num", 0) if isinstance(p, dict) else 0):
        if not isinstance(item, dict) or not isinstance(item.get("expression1"), dict):
            raise QueryError("each predicate needs expression1")
        first = _predicate_expression(item["expression1"], budget)
        condition, second = item.get("condition"), item.get("expression2")
        if second is None:
            parts.append(not_(first) if condition == "not" else first)
            continue
        if not isinstance(second, dict) or condition not in ("and", "or", "not"):
            raise QueryError("a predicate with expression2 needs condition and, or or not")
        other = _predicate_expression(second, budget)
        parts.append({"and": and_(first, other), "or": or_(first, other), "not": and_(first, not_(other))}[condition])
    return and_(*parts)


def _predicate_expression(expr: dict[str, Any], budget: _Budget) -> ColumnElement[bool]:
    op = expr.get("operator")
    if op not in ("gt", "lt", "eq", "ge", "le", "in") or "attribute_value" not in expr:
        raise QueryError("an expression needs attribute_name, operator (gt lt eq ge le in) and attribute_value")
    budget.spend()
    value = expr["attribute_value"]
    if op == "in" and isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    return attribute_condition(expr.get("attribute_name"), op, value)


def idtype_condition(query: Any) -> ColumnElement[bool]:
    if not isinstance(query, dict) or "type" not in query or "value" not in query:
        raise QueryError('an idtype-value query is {"type": "UIN", "value": "..."}')
    return holds_identifier(id_hashes(query["type"], query["value"]))


def condition_for(query_type: str, query: Any) -> ColumnElement[bool]:
    if query_type == "idtype-value":
        return idtype_condition(query)
    if query_type == "expression":
        return expression_condition(query)
    if query_type == "predicate":
        return predicate_condition(query)
    raise QueryError(f"query type {query_type!r} is not supported")


__all__ = ["ID_TYPES_OUT", "QueryError", "condition_for"]
