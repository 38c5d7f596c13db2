"""Marketplace demo data for ``gramsetu up``: the Sewamitra trades with government rates, a vendor and
workers around each demo area (Bhopal's Phanda block, Panna, Tala upazila), two departments with
offices.  Created through the service's own functions; idempotent (an existing code is skipped).

Amounts are in the currency's minor unit (paise in India, poisha in Bangladesh)."""

from __future__ import annotations

import random
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from kernel.auth import Identity
    from kernel.settings import Settings

# (code, name, Hindi name, jobs [(code, name, rate)], visit charge, extra items [(code, name, rate)])
TRADES: tuple[tuple[str, str, str, tuple[tuple[str, str, int], ...], int, tuple[tuple[str, str, int], ...]], ...] = (
    ("plumbing", "Plumber", "प्लंबर", (("plumbing.tap", "Replace a tap", 15000),
                                         ("plumbing.leak", "Fix a leaking pipe", 25000)), 10000,
     (("plumbing.pipe_m", "Pipe, per metre", 6000),)),
    ("electrical", "Electrician", "इलेक्ट्रीशियन", (("electrical.fan", "Install a ceiling fan", 20000),
                                                    ("electrical.wiring", "Repair a wiring fault", 30000)), 10000,
     (("electrical.switch", "Switch or socket", 4000),)),
    ("carpentry", "Carpenter", "बढ़ई", (("carpentry.door", "Repair a door", 30000),), 10000, ()),
    ("painting", "Painter", "पेंटर", (("painting.room", "Paint a room (up to 12 m²)", 150000),), 15000, ()),
    ("ac_fridge", "AC and fridge mechanic", "एसी/फ्रिज मैकेनिक", (("ac_fridge.service", "Service an AC", 50000),
                                                                  ("ac_fridge.gas", "Refill fridge gas", 120000)),
     15000, ()),
    ("car_mechanic", "Car mechanic", "कार मैकेनिक", (("car_mechanic.battery", "Replace a battery", 30000),), 20000, ()),
    ("it_hardware", "IT hardware", "आईटी हार्डवेयर", (("it_hardware.printer", "Repair a printer", 40000),), 15000, ()),
    ("salon", "Salon at home", "सैलून", (("salon.haircut", "Haircut", 10000),), 0, ()),
)
# (vendor code, name, area code for workers, centre lat, lon, workers)
PLACES = (
    ("bhopal-seva", "Bhopal Seva Services", "IN-23-0437-3561-123001-482001", 23.2599, 77.4126, 14),
    ("panna-karigar", "Panna Karigar Samiti", "IN-23-0456-2210-123456-654321", 24.7200, 80.1900, 8),
    ("tala-sheba", "Tala Sheba Kendra", "BD-40-87-90-54-08", 22.7500, 89.2500, 8),
)
NAMES = ("Ramesh", "Suresh", "Mahesh", "Anil", "Sunil", "Rakesh", "Dinesh", "Mukesh", "Pooja", "Seema", "Kamal",
         "Rahim", "Karim", "Shahid")
DEPARTMENTS = (("mp-pwd", "MP Public Works Department", "IN-23", (("mp-pwd-bhopal", "PWD Division Bhopal",
                                                                     "IN-23-0437"),)),
               ("mp-health", "MP Health Department", "IN-23", (("mp-chc-phanda", "CHC Phanda", "IN-23-0437-3561"),)))


async def _catalog(session: AsyncSession, identity: Identity, counts: dict[str, int]) -> None:
    from services.marketplace.repository.catalog import CatalogRepository
    from services.marketplace.schemas.catalog import CategoryIn, RateIn, RateItemIn, TermsIn
    from services.marketplace.service import catalog

    repo = CatalogRepository(session)
    for code, name, local, jobs, visit, extras in TRADES:
        if await repo.category(code) is not None:
            continue
        await catalog.create_category(session, identity, CategoryIn(code=code, name=name, name_local=local))
        await catalog.set_terms(session, identity, code, TermsIn(assigned_fee_minor=5000, offer_timeout_seconds=120))
        counts["categories"] += 1
        items = [(c, n, r, "job") for c, n, r in jobs] + [(c, n, r, "extra") for c, n, r in extras]
        if visit:
            items.append((f"{code}.visit", "Visit charge", visit, "visit"))
        for item_code, item_name, amount, kind in items:
            await catalog.create_item(session, identity, RateItemIn(code=item_code, category_code=code,
                                                                     kind=kind, name=item_name))  # type: ignore[arg-type]
            for area in ("IN", "BD"):
                await catalog.add_rate(session, identity, RateIn(
                    item_code=item_code, area_code=area, valid_from=date(2026, 1, 1), amount_minor=amount,
                    order_ref="Demo rate order 2026/1"))
                counts["rates"] += 1


async def _people(session: AsyncSession, identity: Identity, counts: dict[str, int]) -> None:
    from services.marketplace.repository.catalog import CatalogRepository
    from services.marketplace.repository.workers import VendorRepository
    from services.marketplace.schemas.catalog import DepartmentIn, OfficeIn
    from services.marketplace.schemas.workers import Availability, VendorIn, WorkerIn
    from services.marketplace.service import catalog, vendors, workers

    rng = random.Random(7)
    trades = [t[0] for t in TRADES]
    for vendor_code, vendor_name, area, lat, lon, how_many in PLACES:
        if await VendorRepository(session).by_code(vendor_code) is not None:
            continue
        vendor = await vendors.create(session, identity, VendorIn(code=vendor_code, name=vendor_name,
                                                                  area_code=area.rsplit("-", 2)[0],
                                                                  members=[f"{vendor_code}-staff"]))
        counts["vendors"] += 1
        for i in range(how_many):
            skills = [trades[i % len(trades)]] + ([trades[(i + 3) % len(trades)]] if i % 3 == 0 else [])
            row = await workers.enrol(session, identity, WorkerIn(
                vendor_id=vendor["id"], name=f"{NAMES[i % len(NAMES)]} {i + 1}", phone=f"+9198000{i:05d}",
                languages=["bn"] if area.startswith("BD") else ["hi"], home_area_code=area, service_area_code=area,
                home_lat=lat + rng.uniform(-0.05, 0.05), home_lon=lon + rng.uniform(-0.05, 0.05),
                skills=skills, service_radius_km=20), datetime.now(timezone.utc))
            await workers.set_availability(session, identity, row["id"], Availability(available=True))
            counts["workers"] += 1
    repo = CatalogRepository(session)
    for code, name, area, offices in DEPARTMENTS:
        if await repo.department(code) is not None:
            continue
        await catalog.create_department(session, identity, DepartmentIn(code=code, name=name, area_code=area))
        counts["departments"] += 1
        for office_code, office_name, office_area in offices:
            await catalog.create_office(session, identity, code, OfficeIn(code=office_code, name=office_name,
                                                                          area_code=office_area))


async def load_demo(settings: Settings) -> dict[str, int]:
    from kernel.auth import Identity
    from kernel.db import make_engine, make_sessionmaker, transaction

    assert settings.database_url, "load_demo needs a database URL"
    identity = Identity(subject="demo-loader", kind="system", roles=["admin"], scopes=["*"], area_scope=["IN", "BD"])
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    counts = {"categories": 0, "rates": 0, "vendors": 0, "workers": 0, "departments": 0}
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            await _catalog(session, identity, counts)
            await _people(session, identity, counts)
    finally:
        await engine.dispose()
    return counts
