"""The streamed whole-file rules (``imports_landing``) against a reference that sees the whole file
at once: whatever the order of the rows and wherever the chunks are cut, the same rows land,
the same households are rejected for the same reasons, and each created household's event lists
the members it had when it closed.  As in the worker processes, a row carries the household id
derived from the first row of its household in *its* chunk; everything written must name the
id of the chunk where the household was first seen."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.registry.service.imports_landing import Landing
from services.registry.service.imports_rows import ChunkOutput, RowLines

REFS = ["A", "B", "C", "D"]
AREAS = ["BD-1", "BD-2"]


def row_lines(row: int, ref: str, member: int, role: str, area: str, hid: str | None = None) -> RowLines:
    client_ref = f"{ref}:{member}"
    person_id = f"p-{row}"
    hid = hid or f"h-{ref}"
    return RowLines(row, client_ref, ref, role, area, person_id, "~", hid,
                    f"{person_id}\t{client_ref}\n", f"m\t{hid}\t{person_id}\n", "",
                    json.dumps({"data": {"person_id": person_id, "household_id": hid}}) + "\n",
                    f"{hid}\t{ref}\n" if role == "head" else None)


def as_in_chunk(rows: list[RowLines]) -> list[RowLines]:
    """The rows as a worker returns one chunk: each household's id derived from its first row here."""
    first: dict[str, int] = {}
    for r in rows:
        first.setdefault(r.household_ref, r.row)
    return [row_lines(r.row, r.household_ref, int(r.client_ref.split(":")[1]), r.role, r.area_code,
                      f"h-{r.household_ref}@{first[r.household_ref]}") for r in rows]


def one_id_per_household(lines: list[str], first_seen: dict[str, int]) -> list[str]:
    """Every household id in these lines is its household's first-seen id; the lines with the ids
    put back to ``h-<ref>`` (as the reference names them)."""
    for ref, row in re.findall(r"h-(\w)@(\d+)", "\n".join(lines)):
        assert int(row) == first_seen[ref], f"household {ref} written as of row {row}, first seen at {first_seen[ref]}"
    return [re.sub(r"(h-\w)@\d+", r"\1", line) for line in lines]


rows_strategy = st.lists(
    st.tuples(st.sampled_from(REFS), st.integers(1, 4), st.sampled_from(["head", "child", "child"]),
              st.sampled_from(AREAS[:1] * 6 + AREAS[1:])),
    min_size=1, max_size=30,
)


def streamed(rows: list[RowLines], cuts: list[int]) -> dict[str, Any]:
    landing = Landing("2026-01-01T00:00:00Z", None)
    tables: set[str] = set()  # client_refs written by earlier chunks (what the database would hold)
    persons: list[str] = []
    households: list[str] = []
    events: list[str] = []
    memberships: list[str] = []
    first_seen: dict[str, int] = {}  # ref -> first row of the chunk where it was first seen
    bounds = sorted({0, len(rows), *[c for c in cuts if 0 < c < len(rows)]})
    for start, end in pairwise(bounds):
        chunk_rows = as_in_chunk(rows[start:end])
        for r in chunk_rows:
            first_seen.setdefault(r.household_ref, int(r.household_id.split("@")[1]))
        chunk = ChunkOutput.pack(end - start, [], chunk_rows)
        landing.add_households(chunk, {})
        in_tables = set(landing.refs_to_check(chunk)) & tables
        lines = landing.take(chunk, in_tables)
        for text in lines.persons:
            for line in text.splitlines():
                persons.append(line)
                tables.add(line.split("\t")[1])
        households.extend(line for text in lines.households for line in text.splitlines())
        memberships.extend(line for text in lines.memberships for line in text.splitlines())
        events.extend(line for _, batch in lines.batches for text in batch for line in text.splitlines())
    final = landing.finish()
    events.extend(line for _, batch in final.batches for text in batch for line in text.splitlines())
    households, memberships, events = (one_id_per_household(lines, first_seen)
                                       for lines in (households, memberships, events))
    rejected = {hh.ref for hh in landing.rejected}
    landed = {line.split("\t")[1] for line in persons} - {f"{r.client_ref}" for r in rows
                                                           if r.household_ref in rejected}
    created = {}
    for line in events:
        data = json.loads(line.split("\t", 2)[2])["data"] if "\t" in line else json.loads(line)["data"]
        if "member_ids" in data:
            created[data["household_id"]] = set(data["member_ids"])
    # A rejected household's rows: those it kept in memory, and (a household closed and reopened
    # before it went wrong) the ones that landed before, which the service reads back from the tables.
    landed_rows: dict[str, set[int]] = defaultdict(set)
    for line in persons:
        person_id, client_ref = line.split("\t")[:2]
        landed_rows[client_ref.split(":")[0]].add(int(person_id[2:]))
    errors = list(landing.errors) + [
        (row, *hh.reason()) for hh in landing.rejected
        for row in set(hh.rows) | (landed_rows[hh.ref] if hh.members is None else set())]
    return {"landed": landed, "rejected": rejected, "errors": sorted(errors),
            "households": {h.split("\t")[1] for h in households} - rejected,
            "created": {k: v for k, v in created.items() if k[2:] not in rejected},
            "touched": {hh.ref for hh in landing.touched if not hh.bad}}


def reference(rows: list[RowLines]) -> dict[str, Any]:
    """The rules over the whole file at once."""
    seen: set[str] = set()
    kept: list[RowLines] = []
    errors: list[tuple[int, str, str]] = []
    for r in rows:
        if r.client_ref in seen:
            errors.append((r.row, "member_no", "the same household_ref and member_no appear on an earlier row"))
        else:
            seen.add(r.client_ref)
            kept.append(r)
    by_ref: dict[str, list[RowLines]] = defaultdict(list)
    for r in kept:
        by_ref[r.household_ref].append(r)
    rejected = set()
    for ref, members in by_ref.items():
        heads = sum(m.role == "head" for m in members)
        if len({m.area_code for m in members}) > 1:
            reason = ("area_code", "the rows of this household name different area codes")
        elif heads == 0:
            reason = ("role", "the household has no valid head row (fix the head's row; see its errors)")
        elif heads > 1:
            reason = ("role", f"a household needs exactly one head; this one has {heads}")
        else:
            continue
        rejected.add(ref)
        errors.extend((m.row, *reason) for m in members)
    # Runs of one household in the kept rows; a household closes at the end of the first run by
    # which its head has come, with the members it has then; a later run makes it "touched".
    runs: list[tuple[str, list[RowLines]]] = []
    for r in kept:
        if runs and runs[-1][0] == r.household_ref:
            runs[-1][1].append(r)
        else:
            runs.append((r.household_ref, [r]))
    created: dict[str, set[str]] = {}
    touched: set[str] = set()
    so_far: dict[str, list[RowLines]] = defaultdict(list)
    for ref, run in runs:
        if ref in rejected:
            continue
        if f"h-{ref}" in created:
            touched.add(ref)
            continue
        so_far[ref].extend(run)
        if any(m.role == "head" for m in so_far[ref]):
            created[f"h-{ref}"] = {m.person_id for m in so_far[ref]}
    landed = {r.client_ref for r in kept if r.household_ref not in rejected}
    return {"landed": landed, "rejected": rejected, "errors": sorted(errors),
            "households": {ref for ref in by_ref if ref not in rejected}, "created": created, "touched": touched}


@settings(max_examples=400, deadline=None)
@given(rows=rows_strategy, cuts=st.lists(st.integers(0, 30), max_size=6))
def test_streamed_rules_equal_the_whole_file_rules(rows: list[tuple[str, int, str, str]], cuts: list[int]) -> None:
    lines = [row_lines(i + 2, ref, member, role, area) for i, (ref, member, role, area) in enumerate(rows)]
    assert streamed(lines, cuts) == reference(lines)
