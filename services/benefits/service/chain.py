"""Writing to the hash chains and verifying them.

``append`` computes each new entry's seq and hash on top of its partition's locked head, and
signs the new head (Ed25519).  ``verify`` recomputes every entry's hash in SQL, checks every link
and checks each head's signature and that the head still matches the last stored entry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Event
from kernel.context import request_id_var
from kernel.outbox import BATCH_EVENTS, batch_line, envelope_for, outbox_rows
from services.benefits import SERVICE
from services.benefits.repository import ledger
from services.benefits.repository.ledger import LedgerRepository
from services.benefits.rules.chain import entry_hash, head_message
from services.benefits.service.metrics import CHAIN_BROKEN, CHAIN_VERIFICATIONS, CHAIN_VERIFY_SECONDS
from services.benefits.settings import get_benefits_settings


@lru_cache(maxsize=4)
def _private_key(secret: str) -> Ed25519PrivateKey:
    # The seed is SHA-256 of the configured secret, so any strong secret string (whatever its encoding) works.
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(secret.encode()).digest())


def signing_key() -> Ed25519PrivateKey:
    return _private_key(get_benefits_settings().ledger_signing_seed)


def public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def public_jwk() -> dict[str, str]:
    raw = public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "kid": get_benefits_settings().ledger_key_id, "use": "sig",
            "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}


def chain_of(scheme_code: str, period: str) -> str:
    """The chain an entry belongs to (scheme and period); it is written to one of the chain's lanes."""
    return f"{scheme_code}:{period}"


async def append(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]], now: datetime,
                 events: Callable[[], Sequence[Event]] | None = None,
                 lanes: Mapping[str, Sequence[Any]] | None = None) -> None:
    """Chain and insert ``rows``: each goes to a free lane of its scheme and period's chain (its
    ``partition`` is set here, with seq/prev_hash/hash), and each lane's new head is signed once
    for the whole batch.  ``events`` (built once the rows are chained) go into the outbox in the
    same statement: a row each when few (``INLINE_EVENTS``), else batch rows of up to
    ``BATCH_EVENTS`` (the relay's bulk lane publishes each event on its own).  ``lanes``: lanes the
    caller's lookup already locked (``ledger.take_lanes``).  ``conn``: the transaction's asyncpg
    connection (``kernel.queries.raw_connection``)."""
    if not rows:
        return
    taken = await ledger.take_lanes(conn, [chain_of(r["scheme_code"], r["period"]) for r in rows], lanes)
    tips = {lane["partition"]: (lane["seq"], bytes(lane["hash"])) for lane in taken.values()}
    for row in rows:
        partition = taken[chain_of(row["scheme_code"], row["period"])]["partition"]
        seq, prev = tips[partition]
        row["partition"], row["seq"], row["prev_hash"] = partition, seq + 1, prev
        row["hash"] = entry_hash(prev, row)
        tips[partition] = (row["seq"], row["hash"])
    key, key_id = signing_key(), get_benefits_settings().ledger_key_id
    heads = [{"partition": p, "seq": seq, "hash": digest, "signature": key.sign(head_message(p, seq, digest)),
              "key_id": key_id, "signed_at": now} for p, (seq, digest) in sorted(tips.items())]
    pending = list(events()) if events else []
    if len(pending) <= INLINE_EVENTS:
        await ledger.append_rows(conn, rows, heads, outbox_rows(pending, source=SERVICE))
    else:
        await ledger.append_rows(conn, rows, heads, batches=_batch_rows(pending))


INLINE_EVENTS = 3  # a single posting's events (entry posted, its flags) go in as a row each


def _batch_rows(events: Sequence[Event]) -> list[tuple[uuid.UUID, str, str, int, str]]:
    """Outbox batch rows for ``events`` (kernel.outbox.copy_event_batches' rows, written with the entries)."""
    request_id = request_id_var.get()
    headers = json.dumps({"X-Request-ID": request_id} if request_id else {})
    lines = []
    for event in events:
        envelope = envelope_for(event, source=SERVICE)
        lines.append(batch_line(str(envelope.id), envelope.type, envelope.model_dump_json()))
    return [(uuid.uuid4(), lines[i].split("\t", 2)[1], "\n".join(lines[i:i + BATCH_EVENTS]),
             len(lines[i:i + BATCH_EVENTS]), headers) for i in range(0, len(lines), BATCH_EVENTS)]


@dataclass
class PartitionReport:
    partition: str
    entries: int
    intact: bool
    first_broken_seq: int | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class VerifyReport:
    intact: bool
    partitions: list[PartitionReport]
    entries: int
    seconds: float


def _signature_ok(head: Any) -> bool:
    try:
        public_key().verify(bytes(head["signature"]), head_message(head["partition"], head["seq"], bytes(head["hash"])))
        return True
    except InvalidSignature:
        return False


async def verify(session: AsyncSession, partition_prefix: str | None = None) -> VerifyReport:
    """Every chain (or those whose partition starts with the prefix): intact, or where it breaks."""
    started = time.perf_counter()
    repo = LedgerRepository(session)
    hashes, links = await repo.verify_rows(partition_prefix)
    heads = await repo.head_rows(partition_prefix)
    reports: dict[str, PartitionReport] = {}
    for row in hashes:
        report = reports[row["partition"]] = PartitionReport(row["partition"], row["entries"], True)
        bad = [s for s in (row["first_bad_hash"], links.get(row["partition"])) if s is not None]
        if row["first_bad_hash"] is not None:
            report.problems.append(f"entry {row['first_bad_hash']}: stored content does not match its hash")
        if links.get(row["partition"]) is not None:
            report.problems.append(f"entry {links[row['partition']]}: does not follow the entry before it")
        head = heads.get(row["partition"])
        if head is None:
            report.problems.append("no signed chain head for this partition")
        else:
            _check_head(report, head, row["last_seq"], bad)
        report.intact = not report.problems
        report.first_broken_seq = min(bad) if bad else None
    for partition in heads:  # a head whose entries are all gone
        if partition not in reports:
            reports[partition] = PartitionReport(partition, 0, False, 1, ["the chain head names entries that are gone"])
    ordered = [reports[p] for p in sorted(reports)]
    seconds = time.perf_counter() - started
    broken = sum(not r.intact for r in ordered)
    CHAIN_VERIFICATIONS.labels("broken" if broken else "intact").inc()
    CHAIN_BROKEN.set(broken)
    CHAIN_VERIFY_SECONDS.observe(seconds)
    return VerifyReport(not broken, ordered, sum(r.entries for r in ordered), seconds)


def _check_head(report: PartitionReport, head: Any, last_seq: int, bad: list[int]) -> None:
    if not _signature_ok(head):
        report.problems.append("the chain head's signature is not valid")
        bad.append(int(head["seq"]))
    if head["seq"] != last_seq:
        report.problems.append(f"the signed head is at entry {head['seq']} but the last stored entry is {last_seq}")
        bad.append(min(int(head["seq"]), int(last_seq)) + 1)
    elif head["entry_hash"] is None or bytes(head["entry_hash"]) != bytes(head["hash"]):
        report.problems.append(f"entry {head['seq']}: differs from the signed chain head")
        bad.append(int(head["seq"]))
