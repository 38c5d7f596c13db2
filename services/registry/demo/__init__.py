"""Synthetic population for demos, tests and benchmarks (``gramsetu demo-data``), and the registry's
demo data for ``gramsetu up`` (:func:`load_demo`): the demo area tree and households in its leaves."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kernel.settings import Settings

# Synthetic households (services/registry/demo/people.py) in the demo's leaf areas: the wards and villages.
DEMO_HOUSEHOLD_AREAS: tuple[str, ...] = (
    "BD-40-87-90-54-08", "IN-23-0437-3561-123001-482001", "IN-23-0456-2210-123456-654321",
)
DEMO_HOUSEHOLDS = 200
DEMO_SEED = 2026
# After every 25th household one of its adults is registered again, in Latin letters with an honorific
# and a guessed age (8 people over the three areas), so the duplicates queue has pairs to show.
DEMO_REREGISTERED_EVERY = 25


async def load_demo(settings: Settings) -> dict[str, int]:
    """Create the demo areas and households that do not exist yet (idempotent); returns the counts
    created.  Areas go through the registry's service functions in one transaction; households through
    the bulk-import fast path (the same sheet is one import job, rows already registered are skipped)."""
    from kernel.db import make_engine, make_sessionmaker, transaction
    from services.registry.demo.areas import DEMO_IDENTITY, create_demo_areas
    from services.registry.demo.load import load_households

    assert settings.database_url, "load_demo needs a database URL"
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            areas = await create_demo_areas(session)
        async with transaction(make_sessionmaker(engine)) as session:
            results = await load_households(session, DEMO_IDENTITY, DEMO_HOUSEHOLD_AREAS,
                                            households=DEMO_HOUSEHOLDS, seed=DEMO_SEED,
                                            reregistered_every=DEMO_REREGISTERED_EVERY)
    finally:
        await engine.dispose()
    households = sum(r.job["households_created"] for r in results if not r.reused)
    return {"areas": areas, "households": households}
