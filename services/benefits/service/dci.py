"""The DCI-style beneficiary query (IBR ``/ibr/sync/enrolled``): per item, is the person enrolled in the
programme (a live grant, to any of their linked records) and what did they receive.  Persons are found by
the keyed hash of the identifier, as postings are; national ID values are never echoed back."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.identifiers import InvalidIdentifier, keyed_lookup_hash, parse_identifier
from services.benefits.repository.catalogue import CatalogueRepository
from services.benefits.repository.replica import ReplicaRepository
from services.benefits.repository.reports import ReportRepository
from services.benefits.schemas.dci import EnrolledItem, Envelope
from services.benefits.service.common import audit
from services.benefits.settings import get_benefits_settings

ID_TYPES = {"aadhaar": "aadhaar", "uin": "aadhaar", "nid": "bd_nid", "bd_nid": "bd_nid", "brn": "bd_brn",
            "bd_brn": "bd_brn", "ration_card": "ration_card", "voter_id": "voter_id", "mobile": "phone",
            "phone": "phone"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _reject(item: EnrolledItem, code: str) -> dict[str, Any]:
    return {"reference_id": item.reference_id, "timestamp": _now(), "status": "rjct", "status_reason_code": code}


async def _answer(session: AsyncSession, identity: Identity, item: EnrolledItem) -> dict[str, Any]:
    criteria = item.enrolled_criteria
    query = criteria.get("query") if isinstance(criteria.get("query"), dict) else None
    programme = criteria.get("programme_code")
    if criteria.get("query_type") != "idtype-value" or query is None or not isinstance(programme, str):
        return _reject(item, "rjct.query_type.invalid")
    id_type = ID_TYPES.get(str(query.get("type", "")).lower())
    if id_type is None:
        return _reject(item, "rjct.id_type.unsupported")
    scheme = await CatalogueRepository(session).scheme(programme[:40])
    if scheme is None:
        return _reject(item, "rjct.programme_code.unknown")
    try:
        parsed = parse_identifier(id_type, str(query.get("value", ""))[:40], region=scheme["area_codes"][0][:2])
    except InvalidIdentifier:
        return _reject(item, "rjct.id_value.invalid")
    digest = keyed_lookup_hash(get_benefits_settings().id_hmac_key, parsed.id_type.value, parsed.match_key)
    replica = ReplicaRepository(session)
    holders = (await replica.resolve_hashes([digest])).get(digest, [])
    persons = await replica.persons(holders)
    visible = [p for p in persons.values() if identity.can_access_area(p["area_code"])]
    entries: list[dict[str, Any]] = []
    if visible:
        clusters = await replica.cluster_members(sorted({p["cluster_id"] for p in visible}))
        members = sorted({m for ms in clusters.values() for m in ms})
        rows, _ = await ReportRepository(session).history(members, limit=500, offset=0)
        entries = [{"entry_id": str(r["id"]), "kind": r["kind"], "period": r["period"],
                    "amount_minor": r["amount_minor"], "currency": r["currency"], "quantity": r["quantity"],
                    "unit": r["unit"], "delivered_on": r["delivered_on"].isoformat(), "decision": r["decision"]}
                   for r in rows if r["scheme_code"] == programme]
        await audit(session, identity, "person", [p["id"] for p in visible], action="dci.enrolled",
                    purpose=f"DCI enrolled query for {programme}", details={"reference_id": item.reference_id})
    undone = {e["entry_id"] for e in entries if e["kind"] != "grant"}
    enrolled = any(e["kind"] == "grant" for e in entries) and len(undone) < sum(e["kind"] == "grant" for e in entries)
    return {"reference_id": item.reference_id, "timestamp": _now(), "status": "succ",
            "data": {"programme_code": programme, "enrolled": enrolled, "found_in_registry": bool(visible),
                     "entries": entries}}


async def enrolled(session: AsyncSession, identity: Identity, envelope: Envelope) -> dict[str, Any]:
    answers = [await _answer(session, identity, item) for item in envelope.message.enrolled_request]
    return {
        "signature": None,
        "header": {"version": "1.0.0", "message_id": str(uuid.uuid4()), "message_ts": _now(),
                   "action": "on-enrolled", "status": "succ", "sender_id": "gramsetu-benefits",
                   "receiver_id": envelope.header.sender_id, "total_count": len(answers),
                   "completed_count": sum(a["status"] == "succ" for a in answers), "is_msg_encrypted": False},
        "message": {"transaction_id": envelope.message.transaction_id, "correlation_id": str(uuid.uuid4()),
                    "enrolled_response": answers},
    }
