"""Transparency (aggregates with small cells suppressed) and a person's own history under consent."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel import roles
from kernel.auth import Identity
from kernel.errors import Forbidden, NotFound, ValidationProblem
from kernel.identifiers import InvalidIdentifier, keyed_lookup_hash, parse_identifier
from services.benefits.repository.replica import ReplicaRepository
from services.benefits.repository.reports import ReportRepository
from services.benefits.schemas.reports import ConsentIn, Summary, SummaryRow
from services.benefits.service.common import audit
from services.benefits.settings import get_benefits_settings

MAX_CONSENT = timedelta(days=366)


async def summary(session: AsyncSession, area: str, period: str | None, scheme: str | None) -> Summary:
    k = get_benefits_settings().small_cell_threshold
    rows = []
    for r in await ReportRepository(session).summary(area=area, period=period, scheme_code=scheme):
        hide = r["beneficiaries"] < k
        rows.append(SummaryRow(area_code=r["area_code"], scheme_code=r["scheme_code"], period=r["period"],
                               suppressed=hide, beneficiaries=None if hide else r["beneficiaries"],
                               entries=None if hide else r["entries"],
                               amount_minor=None if hide or r["currency"] is None else int(r["amount_minor"]),
                               currency=r["currency"], unit=r["unit"],
                               quantity=None if hide or r["unit"] is None else int(r["quantity"])))
    return Summary(area=area, period=period, threshold=k, rows=rows)


def client_of(identity: Identity) -> str:
    return identity.client_id or identity.subject


async def _person_of(session: AsyncSession, body: ConsentIn) -> RowMapping:
    replica = ReplicaRepository(session)
    pid = body.person_id
    if body.identifier is not None:
        try:
            parsed = parse_identifier(body.identifier.type, body.identifier.value,
                                      region="BD" if body.identifier.type.startswith("bd_") else "IN")
        except InvalidIdentifier as exc:
            raise ValidationProblem(exc.reason, errors=[{"field": "identifier.value", "reason": exc.reason}]) from exc
        digest = keyed_lookup_hash(get_benefits_settings().id_hmac_key, parsed.id_type.value, parsed.match_key)
        holders = (await replica.resolve_hashes([digest])).get(digest, [])
        pid = holders[0] if holders else None
    if (body.person_id is None) == (body.identifier is None):
        raise ValidationProblem("Name the person by person_id or identifier (one of them).",
                                errors=[{"field": "person_id", "reason": "exactly one of person_id, identifier"}])
    person = await replica.person(pid) if pid else None
    if person is None or person["version"] == 0:
        raise NotFound("No such person in benefits' copy of the registry.")
    return person


async def record_consent(session: AsyncSession, identity: Identity, body: ConsentIn, now: datetime) -> RowMapping:
    reports = ReportRepository(session)
    if not now < body.expires_at <= now + MAX_CONSENT:
        raise ValidationProblem("A consent runs from now for at most a year.",
                                errors=[{"field": "expires_at", "reason": "in the future, at most 366 days ahead"}])
    person = await _person_of(session, body)
    row = await reports.add_consent({"person_id": person["id"], "client_id": client_of(identity),
                                     "purpose": body.purpose, "artefact_ref": body.artefact_ref,
                                     "expires_at": body.expires_at, "recorded_by": identity.subject,
                                     "granted_at": now})
    await audit(session, identity, "consent", [row["id"]], action="consent.recorded", purpose=body.purpose,
                details={"person_id": str(person["id"])})
    return row


async def history(session: AsyncSession, identity: Identity, person_id: uuid.UUID, consent_id: uuid.UUID, *,
                  limit: int, offset: int, now: datetime) -> tuple[list[uuid.UUID], list[RowMapping], int]:
    """The person's own entries (every linked record), only under this client's live consent; audited."""
    reports, replica = ReportRepository(session), ReplicaRepository(session)
    consent = await reports.consent(consent_id)
    person = await replica.person(person_id)
    if consent is None or person is None:
        raise NotFound("No such consent for this person.")
    members = sorted((await replica.cluster_members([person["cluster_id"]])).get(person["cluster_id"], {person_id}))
    if consent["client_id"] != client_of(identity) or consent["person_id"] not in members:
        raise Forbidden("This consent was not given to your application for this person.")
    if consent["revoked_at"] is not None and consent["revoked_at"] <= now:
        raise Forbidden("The person withdrew this consent; their history is no longer readable under it.")
    if consent["expires_at"] <= now:
        raise Forbidden("This consent has expired; ask the person again.")
    rows, total = await reports.history(members, limit=limit, offset=offset)
    await audit(session, identity, "person", [person_id], action="history.read", purpose=consent["purpose"],
                details={"consent_id": str(consent_id), "entries": len(rows)})
    return members, rows, total


async def visible_consent(session: AsyncSession, identity: Identity, consent_id: uuid.UUID) -> RowMapping:
    """A consent the caller may see: its own (the client it was given to) or any, for an admin."""
    row = await ReportRepository(session).consent(consent_id)
    if row is None or (row["client_id"] != client_of(identity) and not roles.holds(identity, "benefits:admin")):
        raise NotFound("No such consent of yours.")
    return row


async def withdraw_consent(session: AsyncSession, identity: Identity, consent_id: uuid.UUID, reason: str,
                           now: datetime) -> RowMapping:
    """The person takes their consent back (through the application, or an operator on their behalf).
    From now on the history is refused under it; reads made before stay in the audit.  Withdrawing
    twice changes nothing."""
    row = await visible_consent(session, identity, consent_id)
    if row["revoked_at"] is not None:
        return row
    withdrawn = await ReportRepository(session).revoke_consent(consent_id, now)
    await audit(session, identity, "consent", [consent_id], action="consent.withdrawn", purpose=reason,
                details={"person_id": str(row["person_id"])})
    return withdrawn
