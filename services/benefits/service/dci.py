"""The DCI-style beneficiary API (IBR): ``/ibr/sync/enrolled`` (is this person enrolled in programme X,
and what did they receive) and ``/ibr/sync/search`` (every programme the person is enrolled in, as IBR
enrolment records).  Persons are found by the keyed hash of the identifier, as postings are, across
every record of the same human; national ID values are never echoed back.

Replies are signed as the registry signs its DCI messages (``kernel.dci_signing``: Ed25519 over the
digest of header and message); the public key is at ``/benefits/ibr/jwks.json``.  The signing key is
derived from the ledger's signing secret under its own label, so it is a different key from the one
that signs chain heads and needs no secret of its own.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel import dci_signing
from kernel.auth import Identity
from kernel.identifiers import InvalidIdentifier, keyed_lookup_hash, parse_identifier
from services.benefits.repository.catalogue import CatalogueRepository
from services.benefits.repository.replica import ReplicaRepository
from services.benefits.repository.reports import ReportRepository
from services.benefits.schemas.dci import EnrolledEnvelope, QueryItem, SearchEnvelope
from services.benefits.service.common import audit
from services.benefits.settings import get_benefits_settings

ID_TYPES = {"aadhaar": "aadhaar", "uin": "aadhaar", "nid": "bd_nid", "bd_nid": "bd_nid", "brn": "bd_brn",
            "bd_brn": "bd_brn", "ration_card": "ration_card", "voter_id": "voter_id", "mobile": "phone",
            "phone": "phone"}
MAX_ENTRIES = 500  # entries per answered item


@lru_cache(maxsize=4)
def _key(secret: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"gramsetu-benefits-dci|" + secret.encode()).digest())


def signing_key() -> Ed25519PrivateKey:
    return _key(get_benefits_settings().ledger_signing_seed)


def jwks() -> dict[str, Any]:
    return {"keys": [dci_signing.public_jwk(signing_key(), get_benefits_settings().dci_key_id)]}


def _reject(item: QueryItem, code: str, now: datetime) -> dict[str, Any]:
    return {"reference_id": item.reference_id, "timestamp": now.isoformat(), "status": "rjct",
            "status_reason_code": code}


class _Rejected(Exception):
    def __init__(self, code: str) -> None:
        self.code = code


async def _holder_records(session: AsyncSession, identity: Identity, query: Any, region: str
                          ) -> list[RowMapping]:
    """Every visible registry record of the human the ``{type, value}`` query names (merged and linked)."""
    if not isinstance(query, dict):
        raise _Rejected("rjct.query.invalid")
    id_type = ID_TYPES.get(str(query.get("type", "")).lower())
    if id_type is None:
        raise _Rejected("rjct.id_type.unsupported")
    if id_type != "phone":  # a phone number's country comes from the caller; every other type names it
        region = "BD" if id_type.startswith("bd_") else "IN"
    try:
        parsed = parse_identifier(id_type, str(query.get("value", ""))[:40], region=region)
    except InvalidIdentifier as exc:
        raise _Rejected("rjct.id_value.invalid") from exc
    digest = keyed_lookup_hash(get_benefits_settings().id_hmac_key, parsed.id_type.value, parsed.match_key)
    replica = ReplicaRepository(session)
    holders = (await replica.resolve_hashes([digest])).get(digest, [])
    visible = [p for p in (await replica.persons(holders)).values() if identity.can_access_area(p["area_code"])]
    if not visible:
        return []
    clusters = await replica.cluster_members(sorted({p["cluster_id"] for p in visible}))
    members = sorted({m for ms in clusters.values() for m in ms})
    return list((await replica.persons(members)).values())


def _entry(row: RowMapping) -> dict[str, Any]:
    return {"entry_id": str(row["id"]), "kind": row["kind"], "period": row["period"],
            "amount_minor": row["amount_minor"], "currency": row["currency"], "quantity": row["quantity"],
            "unit": row["unit"], "delivered_on": row["delivered_on"].isoformat(), "decision": row["decision"]}


def _enrolled(rows: list[RowMapping]) -> bool:
    """A grant not taken back by a reversal or recovery."""
    undone = {r["reverses_id"] for r in rows if r["kind"] != "grant"}
    return any(r["kind"] == "grant" and r["id"] not in undone for r in rows)


async def _entries_of(session: AsyncSession, records: list[RowMapping]) -> list[RowMapping]:
    rows, _ = await ReportRepository(session).history([r["id"] for r in records], limit=MAX_ENTRIES, offset=0)
    return rows


async def _answer_enrolled(session: AsyncSession, identity: Identity, item: QueryItem, now: datetime
                           ) -> dict[str, Any]:
    criteria = item.criteria()
    programme = criteria.get("programme_code")
    if criteria.get("query_type") != "idtype-value" or not isinstance(programme, str):
        return _reject(item, "rjct.query_type.invalid", now)
    scheme = await CatalogueRepository(session).scheme(programme[:40])
    if scheme is None:
        return _reject(item, "rjct.programme_code.unknown", now)
    try:
        records = await _holder_records(session, identity, criteria.get("query"), scheme["area_codes"][0][:2])
    except _Rejected as exc:
        return _reject(item, exc.code, now)
    entries = [r for r in await _entries_of(session, records) if r["scheme_code"] == programme]
    await audit(session, identity, "person", [r["id"] for r in records], action="dci.enrolled",
                purpose=f"DCI enrolled query for {programme}", details={"reference_id": item.reference_id})
    return {"reference_id": item.reference_id, "timestamp": now.isoformat(), "status": "succ",
            "data": {"programme_code": programme, "enrolled": _enrolled(entries), "found_in_registry": bool(records),
                     "entries": [_entry(e) for e in entries]}}


def _amount(minor: int) -> str:
    """IBR's benefit_amount pattern ``^\\d+(\\.\\d{1,2})?$`` from integer minor units (net of reversals)."""
    return f"{abs(minor) // 100}.{abs(minor) % 100:02d}"


async def _answer_search(session: AsyncSession, identity: Identity, item: QueryItem, now: datetime,
                         region: str) -> dict[str, Any]:
    criteria = item.criteria()
    if criteria.get("query_type") != "idtype-value":
        return _reject(item, "rjct.query_type.invalid", now)
    try:
        records = await _holder_records(session, identity, criteria.get("query"), region)
    except _Rejected as exc:
        return _reject(item, exc.code, now)
    by_scheme: dict[str, list[RowMapping]] = defaultdict(list)
    for row in await _entries_of(session, records):
        by_scheme[row["scheme_code"]].append(row)
    schemes = await CatalogueRepository(session).schemes_with_rules(sorted(by_scheme))
    enrolments = []
    for code, rows in sorted(by_scheme.items()):
        first = min((r["delivered_on"] for r in rows if r["kind"] == "grant"), default=None)
        names = schemes[code]["names"] if code in schemes else {}
        enrolments.append({
            "assistance_unit": schemes[code]["beneficiary"] if code in schemes else "person",
            "programme_identifier": [{"programme_code": code, "programme_name": names.get("en", code)}],
            "enrollment_date": first.isoformat() if first else None,
            "enrollment_status": "active" if _enrolled(rows) else "inactive",
            "benefits": [{"benefit_name": names.get("en", code), "period": r["period"],
                          "benefit_amount": _amount(r["amount_minor"]) if r["amount_minor"] is not None else None,
                          "currency": r["currency"], "quantity": r["quantity"], "unit": r["unit"],
                          "date_received": r["delivered_on"].isoformat(), "kind": r["kind"]} for r in rows],
        })
    await audit(session, identity, "person", [r["id"] for r in records], action="dci.search",
                purpose="DCI beneficiary search", details={"reference_id": item.reference_id})
    return {"reference_id": item.reference_id, "timestamp": now.isoformat(), "status": "succ",
            "data": {"found_in_registry": bool(records), "reg_records": enrolments}}


def _reply(envelope: EnrolledEnvelope | SearchEnvelope, action: str, key: str, answers: list[dict[str, Any]],
           now: datetime) -> dict[str, Any]:
    settings = get_benefits_settings()
    header = {"version": "1.0.0", "message_id": str(uuid.uuid4()), "message_ts": now.isoformat(), "action": action,
              "status": "succ", "sender_id": settings.dci_sender_id, "receiver_id": envelope.header.sender_id,
              "total_count": len(answers), "completed_count": sum(a["status"] == "succ" for a in answers),
              "is_msg_encrypted": False}
    message = {"transaction_id": envelope.message.transaction_id, "correlation_id": str(uuid.uuid4()),
               key: answers}
    signature = dci_signing.sign(header, message, signing_key(), sender_id=settings.dci_sender_id,
                                 key_id=settings.dci_key_id, now=now.timestamp())
    return {"signature": signature, "header": header, "message": message}


async def enrolled(session: AsyncSession, identity: Identity, envelope: EnrolledEnvelope, now: datetime
                   ) -> dict[str, Any]:
    answers = [await _answer_enrolled(session, identity, item, now) for item in envelope.message.enrolled_request]
    return _reply(envelope, "on-enrolled", "enrolled_response", answers, now)


async def search(session: AsyncSession, identity: Identity, envelope: SearchEnvelope, now: datetime
                 ) -> dict[str, Any]:
    region = "IN" if any(a.startswith("IN") for a in identity.area_scope) and not any(
        a.startswith("BD") for a in identity.area_scope) else "BD"
    answers = [await _answer_search(session, identity, item, now, region) for item in envelope.message.search_request]
    return _reply(envelope, "on-search", "search_response", answers, now)
