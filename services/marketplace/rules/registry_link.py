"""What a worker's registry link says, judged against the marketplace's copy of the registry.

The copy is kept from the registry's person events (service/registry.py); it may lag.  So a fact
the copy lacks (an unknown person, an identifier type it does not list) refuses the link only while
the copy is *current* (its newest event is at most ``max_lag`` old); otherwise the link is kept as
``pending`` and settled when the person's event arrives.  A death is never waited out: a person the
copy records as deceased is refused at once, and a linked worker becomes ``deceased`` (unavailable).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

LinkStatus = Literal["pending", "verified", "mismatch", "deceased"]
MAX_MERGE_HOPS = 8  # a chain of merges longer than this is a loop in bad data, not a person


@dataclass(frozen=True)
class PersonCopy:
    person_id: uuid.UUID
    status: str  # active, deceased, merged
    merged_into: uuid.UUID | None
    identifier_types: tuple[str, ...]
    version: int  # 0: a placeholder (a merge named the person before its own event arrived)

    @property
    def known(self) -> bool:
        return self.version > 0 or self.status != "active"


@dataclass(frozen=True)
class Verdict:
    status: LinkStatus
    person_id: uuid.UUID  # the survivor when the linked record was merged into another
    refusal: tuple[str, str] | None = None  # (field, why) when a new link must be refused


def copy_is_current(last_event_at: datetime | None, now: datetime, max_lag: timedelta) -> bool:
    return last_event_at is not None and now - last_event_at <= max_lag


def judge(person: PersonCopy | None, person_id: uuid.UUID, identifier_type: str, *, current: bool) -> Verdict:
    """The link's status for the (survivor) person ``person`` as the copy has it (None: not in the copy).

    A new link is refused when the verdict carries a ``refusal``.  When the person's own event has just
    been applied the copy is current for that person, so the event path judges with ``current=True``
    and keeps the status: a ``mismatch`` stays on the worker until an update lists the identifier type."""
    if person is not None and person.status == "deceased":
        why = "the registry records this person as deceased"
        return Verdict("deceased", person_id, ("registry_link.person_id", why))
    if person is None or not person.known:
        if current:
            return Verdict("pending", person_id, ("registry_link.person_id", "the registry has no such person"))
        return Verdict("pending", person_id)
    if identifier_type in person.identifier_types:
        return Verdict("verified", person_id)
    if current:
        why = f"the registry lists no {identifier_type} identifier for this person"
        return Verdict("mismatch", person_id, ("registry_link.identifier_type", why))
    return Verdict("pending", person_id)  # the identifier may have been added in an event not yet here
