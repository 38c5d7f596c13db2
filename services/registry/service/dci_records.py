"""Run one DCI search item and shape our rows as DCI social-registry records (Member / Group).

Records carry a URN, never a database id alone.  Identifier values are disclosed only to a
caller holding the ``registry:identifiers`` scope; everyone else gets the masked form.  Every
person returned is written to the read audit with the caller's stated purpose.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from services.registry.repository.dci import SORTABLE, DciRepository
from services.registry.rules.identifiers import mask
from services.registry.schemas.dci import Pagination, SearchCriteria, SortItem
from services.registry.service.common import audit
from services.registry.service.dci_query import ID_TYPES_OUT, QueryError, condition_for
from services.registry.service.identifiers import decrypt
from services.registry.settings_dci import get_dci_settings

IDENTIFIER_SCOPE = "registry:identifiers"
REG_TYPE = "ns:org:RegistryType:Social"
PERSON_URN = "urn:gramsetu:registry:person:"
HOUSEHOLD_URN = "urn:gramsetu:registry:household:"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class ItemRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _identifiers(rows: Sequence[Mapping[Any, Any]], reveal: bool) -> list[dict[str, Any]]:
    return [
        {
            "@type": "Identifier",
            "identifier_type": ID_TYPES_OUT.get(row["id_type"], row["id_type"].upper()),
            "identifier_value": decrypt(row["value_encrypted"]) if reveal else mask(row["last4"]),
        }
        for row in rows
    ]


def member_record(row: Mapping[Any, Any], ids: Sequence[Mapping[Any, Any]], address: str | None,
                  reveal: bool) -> dict[str, Any]:
    urn = f"{PERSON_URN}{row['id']}"
    demographic: dict[str, Any] = {
        "@type": "SRPerson",
        "identifier": _identifiers(ids, reveal),
        # Names are recorded whole (given/family order differs across the region); not split.
        "name": {"@type": "Name", "given_name": row["full_name"], "surname": "", "prefix": "", "suffix": ""},
        "sex": row["sex"],
        "birth_date": _iso(row["birth_date"]),
        "registration_date": _iso(row["created_at"]),
    }
    if address:
        demographic["address"] = {"@type": "Address", "street_address": address}
    attributes = [
        {"name": "area_code", "value": row["area_code"]},
        {"name": "status", "value": row["status"]},
        {"name": "birth_date_estimated", "value": bool(row["birth_date_estimated"])},
    ]
    if row.get("name_latin"):
        attributes.append({"name": "name_latin", "value": row["name_latin"]})
    if row.get("role"):
        attributes.append({"name": "relationship_head", "value": row["role"]})
    return {
        "@type": "Member",
        "@id": urn,
        "member_identifier": [{"@type": "Identifier", "identifier_type": "URN", "identifier_value": urn}],
        "demographic_info": demographic,
        "is_disabled": row["disability"] is not None,
        "registration_date": _iso(row["created_at"]),
        "last_updated": _iso(row["updated_at"]),
        "additional_attributes": attributes,
    }


def group_record(row: Mapping[Any, Any], members: list[dict[str, Any]], head: dict[str, Any] | None) -> dict[str, Any]:
    urn = f"{HOUSEHOLD_URN}{row['id']}"
    place: dict[str, Any] = {"@type": "Place", "address": row["address"]}
    if row["latitude"] is not None:
        place["geo"] = {"@type": "GeoCoordinates", "latitude": str(row["latitude"]),
                        "longitude": str(row["longitude"])}
    record: dict[str, Any] = {
        "@type": "Group",
        "@id": urn,
        "group_identifier": [{"@type": "Identifier", "identifier_type": "URN", "identifier_value": urn}],
        "group_type": "household",
        "place": place,
        "group_size": len(members),
        "member_list": members,
        "registration_date": _iso(row["created_at"]),
        "last_updated": _iso(row["updated_at"]),
        "additional_attributes": [{"name": "area_code", "value": row["area_code"]},
                                  {"name": "status", "value": row["status"]}],
    }
    if head is not None:
        record["group_head_info"] = head
    return record


async def member_records(
    session: AsyncSession, rows: Sequence[Mapping[Any, Any]], reveal: bool
) -> list[dict[str, Any]]:
    repo = DciRepository(session)
    ids: dict[uuid.UUID, list[Mapping[Any, Any]]] = {}
    for ident in await repo.identifiers([r["id"] for r in rows]):
        ids.setdefault(ident["person_id"], []).append(ident)
    homes = await repo.households([r["household_id"] for r in rows if r.get("household_id")])
    return [
        member_record(r, ids.get(r["id"], []), homes[r["household_id"]]["address"] if r.get("household_id") else None,
                      reveal)
        for r in rows
    ]


async def group_records(session: AsyncSession, homes: Sequence[Mapping[Any, Any]], scopes: Sequence[str],
                        reveal: bool) -> tuple[list[dict[str, Any]], list[uuid.UUID]]:
    members = await DciRepository(session).members([h["id"] for h in homes], scopes)
    shaped = await member_records(session, members, reveal)
    by_home: dict[uuid.UUID, list[tuple[Mapping[Any, Any], dict[str, Any]]]] = {}
    for row, record in zip(members, shaped, strict=True):
        by_home.setdefault(row["household_id"], []).append((row, record))
    out = []
    for home in homes:
        pairs = by_home.get(home["id"], [])
        head = next((rec for row, rec in pairs if row["role"] == "head"), None)
        out.append(group_record(home, [rec for _, rec in pairs], head))
    return out, [row["id"] for row in members]


def _criteria(raw: dict[str, Any]) -> tuple[SearchCriteria, Pagination, list[Any]]:
    settings = get_dci_settings()
    try:
        criteria = SearchCriteria.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ItemRejected("rjct.search_criteria.invalid", f"search_criteria.{where}: {first['msg']}") from exc
    try:
        pagination = Pagination.model_validate(criteria.pagination or {"page_size": settings.default_page_size})
    except ValidationError as exc:
        raise ItemRejected("rjct.pagination.invalid", "pagination needs page_size >= 1 and page_number >= 1") from exc
    if pagination.page_size > settings.max_page_size:
        raise ItemRejected("rjct.pagination.invalid", f"page_size may be at most {settings.max_page_size}")
    order: list[Any] = []
    for raw_sort in criteria.sort:
        try:
            sort = SortItem.model_validate(raw_sort)
        except ValidationError as exc:
            raise ItemRejected("rjct.sort.invalid", "sort items are {attribute_name, sort_order asc|desc}") from exc
        column = SORTABLE.get(sort.attribute_name.lower())
        if column is None:
            raise ItemRejected("rjct.sort.invalid", f"cannot sort by {sort.attribute_name!r}; use "
                               + ", ".join(sorted(SORTABLE)))
        order.append(column.desc().nulls_last() if sort.sort_order == "desc" else column.asc().nulls_last())
    return criteria, pagination, order


def purpose_of(criteria: Mapping[Any, Any] | None, sender_id: str) -> str:
    consent = (criteria or {}).get("consent") or {}
    purpose = consent.get("purpose") if isinstance(consent, dict) else None
    text = purpose.get("text") or purpose.get("code") if isinstance(purpose, dict) else None
    return f"dci:{sender_id}: {str(text)[:150]}" if text else f"dci:{sender_id}: search"


async def search_item(
    session: AsyncSession, identity: Identity, sender_id: str, item: Mapping[Any, Any]
) -> dict[str, Any]:
    """One ``search_response`` item: succ with records and pagination, or rjct with a reason code."""
    out: dict[str, Any] = {"reference_id": item["reference_id"], "timestamp": now_iso()}
    if item.get("locale"):
        out["locale"] = item["locale"]
    try:
        criteria, pagination, order = _criteria(item["search_criteria"])
        condition = condition_for(criteria.query_type, criteria.query)
    except ItemRejected as exc:
        return out | {"status": "rjct", "status_reason_code": exc.code, "status_reason_message": exc.message[:999]}
    except QueryError as exc:
        return out | {"status": "rjct", "status_reason_code": "rjct.search_criteria.invalid",
                      "status_reason_message": exc.reason[:999]}
    repo = DciRepository(session)
    reveal = identity.has_scope(IDENTIFIER_SCOPE)
    offset = (pagination.page_number - 1) * pagination.page_size
    scopes = identity.area_scope
    if criteria.response_entity == "Group":
        homes, total = await repo.search_households(scopes, condition, limit=pagination.page_size, offset=offset)
        records, read_ids = await group_records(session, homes, scopes, reveal)
    else:
        rows, total = await repo.search_persons(scopes, condition, order=order, limit=pagination.page_size,
                                                offset=offset)
        records, read_ids = await member_records(session, rows, reveal), [r["id"] for r in rows]
    if read_ids:
        await audit(session, identity, "person", read_ids, action="dci.search",
                    purpose=purpose_of(item["search_criteria"], sender_id),
                    details={"sender_id": sender_id, "identifiers_disclosed": reveal})
    return out | {
        "status": "succ",
        "data": {
            "version": "1.0.0",
            "reg_type": criteria.reg_type or REG_TYPE,
            "reg_record_type": criteria.reg_record_type or criteria.response_entity,
            "reg_records": records,
        },
        "pagination": {"page_size": pagination.page_size, "page_number": pagination.page_number,
                       "total_count": total},
    }
