"""What of a sheet lands: the whole-file rules over validated rows, in file order (pure: no I/O).

Rows arrive chunk by chunk (:class:`~services.registry.service.imports_rows.ChunkOutput`: each
row's facts, and its lines in one text per table); each row either lands (its lines go to the
chunk's COPY text) or is turned away:

* a second row with the same ``household_ref`` and ``member_no`` is an error;
* a row whose person is already registered (a re-upload) is skipped and counted;
* a household must end with exactly one valid head, all its rows in one area; a household that
  already exists must be active, in the same area, and gets no second head.  A household that
  breaks a rule is rejected whole: its later rows do not land, and what already landed is
  listed in :attr:`Landing.rejected` for the service to remove before it commits.

Households are usually contiguous in a sheet, so one is *closed* when the next one starts: a
new household with its head then gets its ``household.created`` event with its members, and
its per-row state is dropped (memory stays flat however long the file).  A membership waits
until its household's row has landed (a head listed after its members).  A household seen
again after it was closed (a scattered one) is ``reopened``: its later members land and the
service sends a ``household.updated`` for it, as for an existing household that gained members.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from contracts.registry import HouseholdCreated
from kernel.outbox import BATCH_EVENTS, batch_line
from services.registry.service.imports_ids import TimeOrderedIds
from services.registry.service.imports_rows import (
    AREA_CODE,
    BIRTH_DATE,
    CLIENT_REF,
    HOUSEHOLD_ID,
    HOUSEHOLD_REF,
    PERSON_ID,
    ROLE,
    ROW,
    ChunkOutput,
    Facts,
)

EVENTS_PER_BATCH = BATCH_EVENTS  # outbox batch rows stay within one relay batch
DUPLICATE_ROW = ("member_no", "the same household_ref and member_no appear on an earlier row")


@dataclass(frozen=True)
class ExistingHousehold:
    id: str
    area_code: str
    status: str
    has_head: bool


@dataclass(slots=True)
class Household:
    id: str
    ref: str
    existing: ExistingHousehold | None
    area: str | None = None
    areas_mixed: bool = False
    heads: int = 0
    head_id: str | None = None
    members: list[tuple[int, str, str]] | None = field(default_factory=list)  # (0 = head, birth, person id)
    rows: list[int] = field(default_factory=list)  # its valid rows since it was (re)opened
    seen: set[str] = field(default_factory=set)  # client_refs of those rows (a repeated row is an error)
    waiting: list[str] = field(default_factory=list)  # membership lines waiting for the household row
    bad: bool = False
    done: bool = False  # closed with its created event written
    reopened: bool = False  # rows came after it was closed
    landed: int = 0
    first_chunk: int = -1  # the chunks whose outbox batches hold its events
    last_chunk: int = -1

    def reason(self) -> tuple[str, str]:
        """Why the household is rejected (the same order of checks as the API's household rules)."""
        if self.areas_mixed:
            return "area_code", "the rows of this household name different area codes"
        if self.existing is None:
            if self.heads == 0:
                return "role", "the household has no valid head row (fix the head's row; see its errors)"
            return "role", f"a household needs exactly one head; this one has {self.heads}"
        if self.existing.area_code != self.area:
            return "household_ref", "this household_ref is already registered for another area"
        if self.existing.status != "active":
            return "household_ref", f"this household is {self.existing.status}; members cannot be added"
        return "role", "the household already has a head"


@dataclass
class ChunkLines:
    """COPY text of one chunk, table by table (each a list of pieces), and its outbox batches."""

    households: list[str] = field(default_factory=list)
    persons: list[str] = field(default_factory=list)
    memberships: list[str] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)
    batches: list[tuple[str, list[str]]] = field(default_factory=list)  # (outbox row id, event lines)


class Landing:
    """The whole-file rules, applied as rows stream in; see the module docstring."""

    def __init__(self, occurred_at: str, request_id: str | None) -> None:
        self.households: dict[str, Household] = {}
        self.errors: list[tuple[int, str, str]] = []
        self.current: Household | None = None
        self.landed = self.existing_persons = 0
        self.chunk_no = -1
        self.chunk_batches: list[list[str]] = []  # outbox row ids of each chunk's batches
        self.touched: list[Household] = []  # existing or reopened households that gained members
        # Households closed in this chunk: their client_refs are forgotten when it ends (later rows of
        # theirs are checked against the tables, where this chunk's rows then are).
        self.forget: list[Household] = []
        self.first_person: str | None = None
        self.last_person: str | None = None
        self._new_id = TimeOrderedIds().next  # event and batch ids (uuid4 costs a system call each)
        self._envelope_head = {"type": HouseholdCreated.subject, "source": "registry", "occurred_at": occurred_at,
                               "request_id": request_id}
        self._reset_chunk(None)

    def _reset_chunk(self, chunk: ChunkOutput | None) -> None:
        self.chunk = chunk
        self.landing: list[int] = []  # indices of the chunk's rows that land, in order
        self.memberships: list[int | str] = []  # a row index (its line as it is) or a line
        self.events: list[int | str] = []

    # ---------------------------------------------------------------- households of a chunk

    def new_refs(self, chunk: ChunkOutput) -> list[str]:
        """The household refs of a chunk's rows not seen before (to be looked up in the registry)."""
        known = self.households
        return sorted({f[HOUSEHOLD_REF] for f in chunk.facts if f[HOUSEHOLD_REF] not in known})

    def add_households(self, chunk: ChunkOutput, existing: dict[str, ExistingHousehold]) -> None:
        known = self.households
        for f in chunk.facts:
            ref = f[HOUSEHOLD_REF]
            if ref not in known:
                found = existing.get(ref)
                known[ref] = Household(id=found.id if found else f[HOUSEHOLD_ID], ref=ref, existing=found)

    def refs_to_check(self, chunk: ChunkOutput) -> list[str]:
        """Rows whose person may already be in the tables: of an existing household, or of one
        closed earlier in this file (the person may be a repeated row)."""
        known = self.households
        out = []
        for f in chunk.facts:
            hh = known[f[HOUSEHOLD_REF]]
            if hh.existing is not None or hh.done or hh.reopened:
                out.append(f[CLIENT_REF])
        return out

    # ---------------------------------------------------------------- rows

    def take(self, chunk: ChunkOutput, in_tables: set[str]) -> ChunkLines:
        """Apply the rules to one chunk's valid rows; the lines of those that land.
        ``in_tables``: client_refs of ``refs_to_check`` found in the registry."""
        self._reset_chunk(chunk)
        self.chunk_no += 1
        self.chunk_batches.append([])
        known = self.households
        for index, f in enumerate(chunk.facts):
            hh = known[f[HOUSEHOLD_REF]]
            client_ref = f[CLIENT_REF]
            if client_ref in hh.seen or (client_ref in in_tables and hh.existing is None):
                self.errors.append((f[ROW], *DUPLICATE_ROW))
                continue
            if client_ref in in_tables:
                self.existing_persons += 1
                continue
            if hh is not self.current:
                self._switch(hh)
            self._take(hh, index, f)
        for hh in self.forget:
            if hh.done:
                hh.seen = set()
        self.forget.clear()
        return self._lines()

    def _take(self, hh: Household, index: int, f: Facts) -> None:
        hh.seen.add(f[CLIENT_REF])
        hh.rows.append(f[ROW])
        if f[ROLE] == "head":
            hh.heads += 1
        if hh.area is None:
            hh.area = f[AREA_CODE]
        elif hh.area != f[AREA_CODE]:
            hh.areas_mixed = True
        if not hh.bad and self._breaks_rules(hh, f):
            hh.bad = True
        if not hh.bad:
            self._land(hh, index, f)

    @staticmethod
    def _breaks_rules(hh: Household, f: Facts) -> bool:
        if hh.areas_mixed:
            return True
        if hh.existing is None:
            return hh.heads > 1
        return (hh.existing.area_code != f[AREA_CODE] or hh.existing.status != "active"
                or (f[ROLE] == "head" and (hh.existing.has_head or hh.heads > 1)))

    def _land(self, hh: Household, index: int, f: Facts) -> None:
        chunk = self.chunk
        assert chunk is not None
        person_id = f[PERSON_ID]
        self.landed += 1
        hh.landed += 1
        if self.first_person is None or person_id < self.first_person:
            self.first_person = person_id
        if self.last_person is None or person_id > self.last_person:
            self.last_person = person_id
        self.landing.append(index)
        membership: int | str = index
        event: int | str = index
        if hh.id != f[HOUSEHOLD_ID]:  # an existing household, or one first seen in an earlier chunk: its id
            membership = chunk.piece("membership", index).replace(f[HOUSEHOLD_ID], hh.id)
            event = chunk.piece("event", index).replace(f[HOUSEHOLD_ID], hh.id)
        if f[ROLE] == "head" and hh.existing is None:
            hh.head_id = person_id
        if hh.existing is not None or hh.head_id is not None:
            if hh.waiting:
                self.memberships.extend(hh.waiting)
                hh.waiting.clear()
            self.memberships.append(membership)
        else:
            hh.waiting.append(chunk.piece("membership", index) if isinstance(membership, int) else membership)
        if hh.members is not None:
            hh.members.append((0 if f[ROLE] == "head" else 1, f[BIRTH_DATE], person_id))
        self._event(hh, event)

    def _event(self, hh: Household, event: int | str) -> None:
        if hh.first_chunk < 0:
            hh.first_chunk = self.chunk_no
        hh.last_chunk = self.chunk_no
        self.events.append(event)

    def _switch(self, hh: Household) -> None:
        if self.current is not None:
            self._close(self.current)
        self.current = hh
        if hh.done:  # a scattered household: its first rows were closed already
            hh.done, hh.reopened, hh.members, hh.rows = False, True, None, []

    def _close(self, hh: Household) -> None:
        if hh.bad or hh.landed == 0:
            return
        if hh.existing is not None or hh.reopened:  # an existing household keeps its state (rare, small)
            if hh not in self.touched:
                self.touched.append(hh)
            if hh.reopened:
                hh.done, hh.rows = True, []
                self.forget.append(hh)
            return
        if hh.head_id is None:
            return  # no head yet: stays open; rejected at the end if none comes
        self._created_event(hh)
        hh.done, hh.members, hh.rows = True, None, []
        self.forget.append(hh)

    def _created_event(self, hh: Household) -> None:
        assert hh.members is not None
        members = [m[2] for m in sorted(hh.members)]
        event_id = self._new_id()
        data = {"household_id": hh.id, "area_code": hh.area, "status": "active", "survey_status": "collected",
                "head_person_id": hh.head_id, "member_ids": members, "version": 1}
        envelope = orjson.dumps({"id": event_id, **self._envelope_head, "entity": f"household:{hh.id}",
                                 "entity_version": 1, "data": data}).decode()  # as Event.ordering() gives them
        self._event(hh, batch_line(event_id, HouseholdCreated.subject, envelope) + "\n")

    # ---------------------------------------------------------------- the chunk's COPY text

    def _lines(self) -> ChunkLines:
        chunk = self.chunk
        out = ChunkLines()
        if chunk is None:
            return out
        out.persons = chunk.runs("person", self.landing)
        out.identifiers = chunk.runs("identifiers", self.landing)
        out.memberships = chunk.runs("membership", self.memberships)
        landed = None if len(self.landing) == len(chunk.facts) else set(self.landing)
        for i, line in chunk.households.items():  # heads' rows only, in chunk order
            f = chunk.facts[i]
            hh = self.households[f[HOUSEHOLD_REF]]
            if (landed is None or i in landed) and hh.existing is None:
                out.households.append(line if hh.id == f[HOUSEHOLD_ID] else line.replace(f[HOUSEHOLD_ID], hh.id))
        for start in range(0, len(self.events), EVENTS_PER_BATCH):
            self._batch(out, chunk.runs("event", self.events[start:start + EVENTS_PER_BATCH]))
        return out

    def _batch(self, out: ChunkLines, events: list[str]) -> None:
        batch_id = self._new_id()
        self.chunk_batches[self.chunk_no].append(batch_id)
        out.batches.append((batch_id, events))

    # ---------------------------------------------------------------- the end of the file

    def finish(self) -> ChunkLines:
        """Close the last household, reject the ones without a head; the last lines to COPY."""
        self._reset_chunk(None)
        self.chunk_no += 1
        self.chunk_batches.append([])
        if self.current is not None:
            self._close(self.current)
            self.current = None
        for hh in self.households.values():
            if not hh.bad and hh.existing is None and hh.head_id is None and hh.rows:
                hh.bad = True
        out = ChunkLines()
        for start in range(0, len(self.events), EVENTS_PER_BATCH):  # the last household's created event
            self._batch(out, [e for e in self.events[start:start + EVENTS_PER_BATCH] if isinstance(e, str)])
        return out

    def batches_of(self, households: list[Household]) -> list[str]:
        """The outbox batch rows that may hold events of these households."""
        chunks = {n for hh in households if hh.first_chunk >= 0 for n in range(hh.first_chunk, hh.last_chunk + 1)}
        return [batch_id for n in sorted(chunks) for batch_id in self.chunk_batches[n]]

    @property
    def rejected(self) -> list[Household]:
        return [hh for hh in self.households.values() if hh.bad]
