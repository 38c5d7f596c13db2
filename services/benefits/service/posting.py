"""Posting ledger entries: validate against the scheme, resolve the person in the registry copy, check
exclusivity (double dipping, across linked and merged records), then chain and write.

One call handles one entry or a batch, set-based: the catalogue comes from the in-process cache
(``catalogue_cache``), then one lookup statement reads everything else for the whole call
(department references, identifier hashes, persons and their clusters, households, live grants)
and locks a free lane of each chain, and one write statement inserts the chained entries, moves the
signed lane heads and writes the outbox events.  With BEGIN and COMMIT that is four round trips
for one entry or for a batch of thousands; the cost per entry is the Python checks and its share
of the two statements.  Each item gets its own outcome; a repeated department reference returns
the entry already written and changes nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.benefits import EntryPosted, FlagRaised
from kernel.areas import is_within_any
from kernel.auth import Identity
from kernel.identifiers import InvalidIdentifier, keyed_lookup_hash, parse_identifier
from kernel.queries import raw_connection
from services.benefits.repository.posting import Lookup, insert_flags, lookup
from services.benefits.rules.access import actor_ids, may_post_for
from services.benefits.rules.exclusivity import (
    Candidate,
    Conflict,
    Exclusivity,
    Grant,
    GrantIndex,
    Policy,
    conflicts,
)
from services.benefits.rules.periods import InvalidPeriod, period_range
from services.benefits.schemas.common import FieldError
from services.benefits.schemas.ledger import EntryIn, Outcome
from services.benefits.service import catalogue_cache, chain
from services.benefits.service.ids import uuid7
from services.benefits.service.metrics import (
    ENTRIES_POSTED,
    FLAGS_RAISED,
    POSTING_SECONDS,
    POSTINGS_REJECTED,
    POSTINGS_REPEATED,
)
from services.benefits.settings import get_benefits_settings

# Content a repeated department reference must match to count as "the same posting".
FLAG_KINDS = {"unknown_person": "unknown_person", "deceased": "deceased_person"}
SAME_POSTING = ("scheme_code", "period", "amount_minor", "currency", "quantity", "delivered_on")


@dataclass
class Item:
    """One entry on its way through the checks."""

    index: int
    body: EntryIn
    scheme: dict[str, Any] | None = None  # the scheme's posting columns (catalogue cache)
    start: date | None = None
    end: date | None = None
    identifier_hash: str | None = None
    person: dict[str, Any] | None = None
    household_id: uuid.UUID | None = None
    area_code: str | None = None
    errors: list[FieldError] = field(default_factory=list)
    reject_reason: str = "invalid"
    outcome: Outcome | None = None
    conflicts: list[Conflict] = field(default_factory=list)
    cluster: frozenset[uuid.UUID] = frozenset()
    unknown_person: bool = False
    entry_id: uuid.UUID = field(default_factory=uuid7)
    policy: Policy | None = None  # the scheme's, from the catalogue cache
    rules: Exclusivity | None = None  # the scheme's exclusivity, "not together with" made symmetric
    flags: list[dict[str, Any]] = field(default_factory=list)  # raised on this entry
    after_death: date | None = None  # the registry's date of death, when the period starts after it
    entry_row: Any = None  # the ledger row written, or found for a repeated reference


    def fail(self, field_name: str, reason: str, kind: str = "invalid") -> None:
        self.errors.append(FieldError(field=field_name, reason=reason))
        self.reject_reason = kind


async def post(session: AsyncSession, identity: Identity, bodies: Sequence[EntryIn], *, now: datetime,
               file_id: uuid.UUID | None = None, row_numbers: Sequence[int] | None = None,
               mode: str = "batch", entries: dict[uuid.UUID, Any] | None = None) -> list[Outcome]:
    """Check and write ``bodies``; ``now`` is the service clock's time (recorded_at, "future" delivery).
    ``entries``, when given, receives each outcome's ledger row by entry id (the row written, or the
    one a repeated reference names), so a caller can answer without reading it back."""
    return await post_on(await raw_connection(session), catalogue_cache.key_of(session), identity, bodies, now=now,
                         file_id=file_id, row_numbers=row_numbers, mode=mode, entries=entries)


async def post_on(conn: asyncpg.Connection, cache_key: Any, identity: Identity, bodies: Sequence[EntryIn], *,
                  now: datetime, file_id: uuid.UUID | None = None, row_numbers: Sequence[int] | None = None,
                  mode: str = "batch", entries: dict[uuid.UUID, Any] | None = None) -> list[Outcome]:
    """``post`` on a transaction's asyncpg connection (``repository.posting.transaction`` for
    ``POST /entries``); ``cache_key``: the catalogue cache's (``catalogue_cache.key_of``)."""
    started = time.perf_counter()
    known = catalogue_cache.cached(cache_key) or await catalogue_cache.load(cache_key, conn)
    for _ in range(10):
        items = [Item(row_numbers[i] if row_numbers else i, b) for i, b in enumerate(bodies)]
        _check_schemes(identity, items, known, now.date())
        found = await _lookup(conn, items)
        if found.catalogue_version == known.version:
            break
        # The catalogue changed since it was cached: judge the call again under the catalogue as it is.
        known = await catalogue_cache.load(cache_key, conn)
    else:  # pragma: no cover - the catalogue changing ten times during one posting
        raise RuntimeError("the scheme catalogue kept changing while posting")
    _repeated(items, found.repeated)
    _resolve(items, found)
    _check_exclusivity(items, known, found.grants)
    await _write(conn, identity, items, file_id, now, found.lanes)
    if entries is not None:
        entries.update({i.entry_row["id"]: i.entry_row for i in items if i.entry_row is not None})
    outcomes = [i.outcome for i in items if i.outcome is not None]
    _count(outcomes, items)
    POSTING_SECONDS.labels(mode).observe(time.perf_counter() - started)
    return outcomes


def _count(outcomes: Sequence[Outcome], items: Sequence[Item]) -> None:
    """Metrics, once the outcomes are final (a call judged again after a catalogue change counts once)."""
    for outcome in outcomes:
        if outcome.status == "rejected":
            POSTINGS_REJECTED.labels(outcome.code or "invalid").inc()
        elif outcome.status == "repeated":
            POSTINGS_REPEATED.inc()
        else:
            ENTRIES_POSTED.labels("grant", outcome.status).inc()
    for item in items:
        for flag in item.flags:
            FLAGS_RAISED.labels(flag["kind"], "posting").inc()


def _pending(items: Sequence[Item]) -> list[Item]:
    return [i for i in items if i.outcome is None and not i.errors]


def _reject_failed(items: Sequence[Item]) -> None:
    for item in items:
        if item.errors and item.outcome is None:
            item.outcome = Outcome(index=item.index, status="rejected", code=item.reject_reason, errors=item.errors)


def _check_schemes(identity: Identity, items: Sequence[Item], known: catalogue_cache.Catalogue, today: date) -> None:
    """The scheme, the caller's right to post for it, and the values against it; then the keyed hash of
    each posted identifier (its region is the scheme's country)."""
    actors = actor_ids(identity)
    for item in items:
        scheme = known.schemes.get(item.body.scheme)
        if scheme is None:
            item.fail("scheme", f"no scheme {item.body.scheme!r} in the catalogue", "unknown_scheme")
            continue
        item.scheme, item.policy = scheme, known.policies[item.body.scheme]
        item.rules = known.exclusivity[item.body.scheme]
        department = scheme["department_code"]
        posters = known.posters.get(department, frozenset())
        if not may_post_for(identity, department, {department} if any(a in posters for a in actors) else set()):
            item.fail("scheme", f"your client posts only for its own department's schemes, not "
                                f"{department}'s", "forbidden")
            continue
        _check_values(item, scheme, today)
    key = get_benefits_settings().id_hmac_key
    for item in _pending(items):
        ident = item.body.identifier
        if ident is not None:
            assert item.scheme is not None
            try:
                parsed = parse_identifier(ident.type, ident.value, region=item.scheme["area_codes"][0][:2])
            except InvalidIdentifier as exc:
                item.fail("identifier.value", exc.reason)
                continue
            item.identifier_hash = keyed_lookup_hash(key, parsed.id_type.value, parsed.match_key)
    _reject_failed(items)


async def _lookup(conn: Any, items: Sequence[Item]) -> Lookup:
    """Everything the checks read, for every item still standing, in one statement (a superset of what
    the later checks use: an item refused on the way only adds rows nobody looks at)."""
    pending = _pending(items)
    related = {i.body.scheme for i in pending} | {c for i in pending if i.rules for c in i.rules.not_with}
    return await lookup(
        conn, refs=sorted({(i.scheme["department_code"], i.body.department_ref) for i in pending if i.scheme}),
        hashes=sorted({i.identifier_hash for i in pending if i.identifier_hash}),
        persons=sorted({i.body.person_id for i in pending if i.body.person_id}),
        households=sorted({i.body.household_id for i in pending if i.body.household_id}),
        schemes=sorted(related), start=min((i.start for i in pending if i.start), default=date.min),
        end=max((i.end for i in pending if i.end), default=date.min),
        chains=sorted({chain.chain_of(i.body.scheme, i.body.period) for i in pending}))


def _check_values(item: Item, scheme: dict[str, Any], today: date) -> None:
    body = item.body
    try:
        item.start, item.end = period_range(scheme["frequency"], body.period, valid_from=scheme["valid_from"],
                                            valid_to=scheme["valid_to"])
    except InvalidPeriod as exc:
        item.fail("period", exc.reason)
    if scheme["kind"] == "cash":
        if body.amount_minor is None:
            item.fail("amount_minor", "a cash scheme needs amount_minor (integer minor units)")
        if body.currency != scheme["currency"]:
            item.fail("currency", f"this scheme pays in {scheme['currency']}")
        if body.quantity is not None:
            item.fail("quantity", "a cash scheme takes an amount, not a quantity")
    elif scheme["kind"] == "kind":
        if body.quantity is None:
            item.fail("quantity", f"an in-kind scheme needs a quantity in {scheme['unit'] or 'its unit'}")
        if body.unit is not None and body.unit != scheme["unit"]:
            item.fail("unit", f"this scheme counts in {scheme['unit']}")
        if body.amount_minor is not None or body.currency is not None:
            item.fail("amount_minor", "an in-kind scheme takes a quantity, not an amount")
    elif body.amount_minor is not None and body.currency != scheme["currency"]:
        item.fail("currency", f"this scheme's amounts are in {scheme['currency'] or 'no currency'}")
    if body.delivered_on > today + timedelta(days=1):
        item.fail("delivered_on", "a benefit cannot be delivered in the future")
    elif body.delivered_on < scheme["valid_from"] or (scheme["valid_to"] and body.delivered_on > scheme["valid_to"]):
        item.fail("delivered_on", "outside the scheme's validity dates")
    if sum(x is not None for x in (body.person_id, body.identifier, body.household_id)) != 1:
        item.fail("person_id", "name exactly one of person_id, identifier or household_id")


def _repeated(items: Sequence[Item], existing: dict[tuple[str, str], dict[str, Any]]) -> None:
    """A department reference already in the ledger (or earlier in this batch) changes nothing."""
    seen: dict[tuple[str, str], Item] = {}
    for item in _pending(items):
        assert item.scheme is not None
        key = (item.scheme["department_code"], item.body.department_ref)
        found = existing.get(key)
        if found is not None:
            if any(found[f] != _posted_value(item, f) for f in SAME_POSTING):
                item.fail("department_ref", "this reference was already posted with different content", "conflict")
            else:
                item.outcome = Outcome(index=item.index, status="repeated", entry_id=found["id"])
                item.entry_row = found
        elif key in seen:
            item.fail("department_ref", f"repeats the reference of item {seen[key].index} in this batch", "conflict")
        else:
            seen[key] = item
    _reject_failed(items)


def _posted_value(item: Item, name: str) -> Any:
    assert item.scheme is not None
    if name == "scheme_code":
        return item.scheme["code"]
    return getattr(item.body, name)


def _resolve(items: Sequence[Item], found: Lookup) -> None:
    """Each item's person (by id, or by the keyed hash of its identifier) and household."""
    for item in _pending(items):
        holders = found.holders.get(item.identifier_hash or "") or []
        pid = item.body.person_id or (holders[0] if holders else None)
        item.person = found.persons.get(pid) if pid else None
        if item.person is not None and item.person["version"] == 0:
            item.person = None  # a placeholder made by a link event: the registry has not sent the person yet
        _place(item, found.households)
    _reject_failed(items)
    for item in _pending(items):
        if item.person is not None:  # every record of the same human (merges and duplicate links)
            item.cluster = frozenset(item.person["members"] or (item.person["id"],))


def _place(item: Item, households: dict[uuid.UUID, dict[str, Any]]) -> None:
    """Decide the entry's person, household and area, or that the person is unknown (policy decides)."""
    assert item.scheme is not None and item.policy is not None
    policy = item.policy
    if item.body.household_id is not None:
        hh = households.get(item.body.household_id)
        if hh is None:
            return _unknown(item, policy, "household_id", "no such household in the registry copy")
        item.household_id, item.area_code = hh["id"], hh["area_code"]
    elif item.person is None:
        field_name = "identifier" if item.body.identifier else "person_id"
        return _unknown(item, policy, field_name, "no such person in the registry copy")
    else:
        item.household_id, item.area_code = item.person["household_id"], item.person["area_code"]
    if item.scheme["beneficiary"] == "household" and item.household_id is None:
        item.fail("household_id", "a household scheme needs the household (or a member who has one)")
    elif not is_within_any(item.area_code or "", list(item.scheme["area_codes"])):
        item.fail("scheme", f"the scheme does not run in {item.area_code}")
    return None


def _unknown(item: Item, policy: Policy, field_name: str, reason: str) -> None:
    if policy.unknown_person == "reject":
        return item.fail(field_name, f"{reason}; this scheme refuses such entries", "unknown_person")
    if item.body.area_code is None:
        return item.fail("area_code", f"{reason}: say where it was given (area_code) so it can be held for review")
    item.unknown_person, item.area_code = True, item.body.area_code
    assert item.scheme is not None
    if not is_within_any(item.area_code, list(item.scheme["area_codes"])):
        item.fail("area_code", f"the scheme does not run in {item.area_code}")
    return None


def _check_exclusivity(items: Sequence[Item], known: catalogue_cache.Catalogue, grants: Sequence[Any]) -> None:
    pending = [i for i in _pending(items) if not i.unknown_person]
    if not pending:
        return
    index = GrantIndex(Grant(*g) for g in grants)
    for item in pending:
        assert item.scheme is not None and item.start and item.end
        candidate = Candidate(item.body.scheme, item.scheme["beneficiary"], item.cluster, item.household_id,
                              item.start, item.end)
        item.conflicts = conflicts(candidate, known.exclusivity[item.body.scheme], index)
        item.after_death = _after_death(item)
        assert item.policy is not None
        if item.after_death and item.policy.on_conflict == "reject":
            item.fail("person_id", f"the registry records this person's death on {item.after_death}, before the "
                                   f"period {item.body.period} starts", "deceased")
            item.outcome = Outcome(index=item.index, status="rejected", code="deceased", errors=item.errors,
                                   evidence=_evidence(item))
            continue
        if item.conflicts and item.policy.on_conflict == "reject":
            rule = item.conflicts[0].rule
            item.fail("person_id", f"double dipping: breaks the scheme's {rule} rule", "double_dipping")
            item.outcome = Outcome(index=item.index, status="rejected", code="double_dipping", errors=item.errors,
                                   evidence=_evidence(item))
            continue
        # Accepted or held, it now counts against the rest of the batch.
        person = item.person["id"] if item.person else None
        index.add(Grant(item.entry_id, item.body.scheme, person, item.household_id, item.start, item.end))


def _after_death(item: Item) -> date | None:
    """The person's date of death when the registry recorded one before the entry's period starts."""
    if item.person is None or item.person["status"] != "deceased" or item.start is None:
        return None
    died = item.person["deceased_on"]
    if died is None:  # deceased without a date (an older event): any period is after it
        return item.start
    return died if died < item.start else None


def _evidence(item: Item) -> dict[str, Any]:
    return {
        "conflicts": [{"rule": c.rule, "other_entry_ids": [str(x) for x in c.other_entry_ids]}
                      for c in item.conflicts],
        "same_person_records": sorted(str(p) for p in item.cluster),
        "household_id": str(item.household_id) if item.household_id else None,
        "period": item.body.period,
        **({"deceased_on": item.after_death.isoformat()} if item.after_death else {}),
    }


async def _write(conn: asyncpg.Connection, identity: Identity, items: Sequence[Item], file_id: uuid.UUID | None,
                 now: datetime, lanes: dict[str, Any]) -> None:
    rows: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    for item in _pending(items):
        row = _row(item, identity, now, file_id)
        rows.append(row)
        item.entry_row = row  # chain.append fills in its lane, seq and hashes
        item.outcome = Outcome.model_construct(index=item.index, status=row["decision"], entry_id=row["id"], code=None,
                                               errors=[], flags=[], evidence=None)
        for rule, others in _flag_reasons(item):
            flag_id = uuid.uuid4()
            item.outcome.flags.append(flag_id)
            item.flags.append({"id": flag_id, "entry_id": row["id"], "kind": FLAG_KINDS.get(rule, "double_dipping"),
                               "rule": rule, "scheme_code": row["scheme_code"],
                               "rule_version": row["rule_version"], "area_code": row["area_code"],
                               "other_entry_ids": others, "evidence": _evidence(item) | _unknown_evidence(item),
                               "source": "posting", "raised_at": now})
            flags.append(item.flags[-1])
    await insert_flags(conn, flags)
    await chain.append(conn, rows, now, events=lambda: [*(_posted_event(r) for r in rows),
                                                           *(flag_raised_event(f) for f in flags)], lanes=lanes)


def _flag_reasons(item: Item) -> list[tuple[str, list[uuid.UUID]]]:
    if item.unknown_person:
        return [("unknown_person", [])]
    death: list[tuple[str, list[uuid.UUID]]] = [("deceased", [])] if item.after_death else []
    return death + [(c.rule, list(c.other_entry_ids)) for c in item.conflicts]


def _unknown_evidence(item: Item) -> dict[str, Any]:
    if not item.unknown_person:
        return {}
    body = item.body
    return {"unknown_person": {"posted_as": "identifier" if body.identifier else "person_id",
                               "identifier_type": body.identifier.type if body.identifier else None,
                               "person_id": str(body.person_id) if body.person_id else None}}


def _row(item: Item, identity: Identity, now: datetime, file_id: uuid.UUID | None) -> dict[str, Any]:
    scheme, body = item.scheme, item.body
    assert scheme is not None and item.start and item.end and item.area_code
    held = item.unknown_person or bool(item.conflicts) or item.after_death is not None
    return {
        "id": item.entry_id, "partition": None, "kind": "grant",  # the chain lane is chosen by chain.append
        "reverses_id": None, "flag_id": None, "scheme_code": scheme["code"],
        "department_code": scheme["department_code"],
        "rule_version": scheme["current_version"], "beneficiary": scheme["beneficiary"],
        "person_id": item.person["id"] if item.person else (body.person_id if item.unknown_person else None),
        "household_id": item.household_id, "identifier_hash": item.identifier_hash, "area_code": item.area_code,
        "period": body.period, "period_start": item.start, "period_end": item.end,
        "amount_minor": body.amount_minor, "currency": body.currency, "quantity": body.quantity,
        "unit": scheme["unit"] if body.quantity is not None else None, "delivered_on": body.delivered_on,
        "channel": body.channel, "recorded_by": identity.subject, "department_ref": body.department_ref,
        "evidence_ref": body.evidence_ref, "decision": "held" if held else "accepted", "file_id": file_id,
        "file_row": item.index if file_id else None, "recorded_at": now,
    }


def _posted_event(row: dict[str, Any]) -> EntryPosted:
    return EntryPosted(**_event_fields(row), decision=row["decision"], delivered_on=row["delivered_on"],
                       channel=row["channel"])


def _event_fields(row: dict[str, Any] | RowMapping) -> dict[str, Any]:
    return {"entry_id": row["id"], "partition": row["partition"], "seq": row["seq"],
            "scheme_code": row["scheme_code"], "department_code": row["department_code"],
            "person_id": row["person_id"], "household_id": row["household_id"], "area_code": row["area_code"],
            "period": row["period"], "amount_minor": row["amount_minor"], "currency": row["currency"],
            "quantity": row["quantity"], "unit": row["unit"], "rule_version": row["rule_version"]}


def flag_raised_event(flag: dict[str, Any]) -> FlagRaised:
    return FlagRaised(flag_id=flag["id"], entry_id=flag["entry_id"], kind=flag["kind"], rule=flag["rule"],
                      scheme_code=flag["scheme_code"], rule_version=flag["rule_version"],
                      area_code=flag["area_code"], other_entry_ids=flag["other_entry_ids"], source=flag["source"])
