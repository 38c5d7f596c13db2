"""Load synthetic households into the registry through the bulk-import fast path."""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Sequence
from typing import IO

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from services.registry.demo.people import Row, generate, write_csv
from services.registry.service.imports import ImportResult, Progress, import_file
from services.registry.service.imports_files import ReceivedFile


def sheets_by_area(areas: Sequence[str], *, households: int, seed: int, reregistered_every: int = 0
                   ) -> dict[str, list[Row]]:
    """One generation pass (so identifiers stay unique), split into one sheet per area."""
    out: dict[str, list[Row]] = {area.upper(): [] for area in areas}
    for row in generate([a.upper() for a in areas], households=households, seed=seed,
                        reregistered_every=reregistered_every):
        out[row["area_code"]].append(row)
    return out


def as_received(rows: list[Row]) -> ReceivedFile:
    text = io.StringIO()
    write_csv(text, iter(rows))
    data = text.getvalue().encode()
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    spool.write(data)
    spool.seek(0)
    return ReceivedFile(file=spool, sha256=hashlib.sha256(data).hexdigest(), size=len(data), format="csv")


async def load_households(
    session: AsyncSession, identity: Identity, areas: Sequence[str], *, households: int, seed: int = 1,
    progress: Progress | None = None, reregistered_every: int = 0,
) -> list[ImportResult]:
    """Generate ``households`` households over ``areas`` and import them, one import job per area.
    Idempotent: the same file is one job, and every row's natural key is skipped once registered.
    ``reregistered_every``: deliberate duplicates for the matcher (``people.generate``); the import's
    duplicate check queues them."""
    results = []
    for area, rows in sheets_by_area(areas, households=households, seed=seed,
                                     reregistered_every=reregistered_every).items():
        if rows:
            results.append(await import_file(session, identity, as_received(rows), area,
                                             file_name=f"demo-data-seed{seed}.csv", progress=progress))
    return results
