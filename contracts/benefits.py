"""Events published by the benefits service (ledger entries and double-dipping flags)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import Field

from contracts.base import Event


class LedgerEntryFields(Event):
    """What every ledger event says about the entry (amounts in integer minor units)."""

    entry_id: uuid.UUID
    partition: str = Field(description="Hash-chain lane: '<scheme>:<period>.<lane>'")
    seq: int = Field(ge=1, description="Position in the partition's chain")
    scheme_code: str
    department_code: str
    person_id: uuid.UUID | None = Field(description="None when posted against an identifier the registry copy lacks")
    household_id: uuid.UUID | None
    area_code: str
    period: str = Field(description="2026-11 (monthly), 2026-Q4, 2026 (yearly) or once")
    amount_minor: int | None = Field(description="Integer minor units (paise, poisha); negative for reversals")
    currency: Literal["INR", "BDT"] | None
    quantity: int | None = Field(description="Quantity in the scheme's unit; negative for reversals")
    unit: str | None
    rule_version: int = Field(ge=1, description="The scheme's rule version the entry was decided under")


class EntryPosted(LedgerEntryFields):
    """A department recorded a benefit given (accepted, or accepted and held for review)."""

    subject = "benefits.entry.posted.v1"
    decision: Literal["accepted", "held"]
    delivered_on: date
    channel: str


class EntryReversed(LedgerEntryFields):
    """An entry was taken back by a reversal (a correction) or a recovery (a confirmed double-dipping flag)."""

    subject = "benefits.entry.reversed.v1"
    kind: Literal["reversal", "recovery"]
    reverses_id: uuid.UUID
    reason: str | None


class FlagRaised(Event):
    """An entry broke an exclusivity rule (double dipping, also across linked or merged registry records)
    or was posted for a person the registry copy does not know; it waits in the review queue."""

    subject = "benefits.flag.raised.v1"
    flag_id: uuid.UUID
    entry_id: uuid.UUID
    kind: Literal["double_dipping", "unknown_person", "deceased_person"]
    rule: Literal["per_person", "per_household", "not_with", "unknown_person", "deceased"] = Field(
        description="deceased: a grant for a period that starts after the person's recorded death")
    scheme_code: str
    rule_version: int = Field(ge=1)
    area_code: str
    other_entry_ids: list[uuid.UUID]
    source: Literal["posting", "sweep"]


class FlagDecided(Event):
    """A reviewer confirmed a flag (a recovery entry was recorded) or dismissed it with a reason."""

    subject = "benefits.flag.decided.v1"
    flag_id: uuid.UUID
    entry_id: uuid.UUID
    decision: Literal["confirmed", "dismissed", "matched"] = Field(
        description="matched: an entry held for an unknown person, settled when the registry sent the person")
    decided_by: str
    reason: str
    recovery_entry_id: uuid.UUID | None
    area_code: str
