"""The demo area tree: one Indian chain and Tala upazila in Bangladesh.

The codes follow the official shapes (LGD for India, BBS geocodes for Bangladesh) but below
state/division and district level they are illustrative, not the official codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity


@dataclass(frozen=True)
class DemoArea:
    code: str
    name: str
    name_local: str


DEMO_AREAS: tuple[DemoArea, ...] = (
    DemoArea("IN", "India", "भारत"),
    DemoArea("IN-23", "Madhya Pradesh", "मध्य प्रदेश"),
    DemoArea("IN-23-0437", "Bhopal", "भोपाल"),
    DemoArea("IN-23-0437-3561", "Phanda", "फंदा"),
    DemoArea("IN-23-0437-3561-123001", "Khajuri Sadak", "खजूरी सड़क"),
    DemoArea("IN-23-0437-3561-123001-482001", "Khajuri Sadak", "खजूरी सड़क"),
    DemoArea("IN-23-0456", "Panna", "पन्ना"),
    DemoArea("IN-23-0456-2210", "Panna", "पन्ना"),
    DemoArea("IN-23-0456-2210-123456", "Janakpur", "जनकपुर"),
    DemoArea("IN-23-0456-2210-123456-654321", "Janakpur", "जनकपुर"),
    DemoArea("BD", "Bangladesh", "বাংলাদেশ"),
    DemoArea("BD-40", "Khulna", "খুলনা"),
    DemoArea("BD-40-87", "Satkhira", "সাতক্ষীরা"),
    DemoArea("BD-40-87-90", "Tala", "তালা"),
    DemoArea("BD-40-87-90-54", "Nagarghata", "নগরঘাটা"),
    DemoArea("BD-40-87-90-54-08", "Ward 8", "ওয়ার্ড ৮"),
)

DEMO_IDENTITY = Identity(
    subject="gramsetu-demo", kind="system", roles=["admin"], scopes=["*"], area_scope=["IN", "BD"]
)


async def create_demo_areas(session: AsyncSession) -> int:
    """Create the demo areas that do not exist yet, through the registry's service function (so each
    writes its ``registry.area.created.v1`` event to the outbox); returns how many were created."""
    from services.registry.repository import AreaRepository
    from services.registry.schemas import AreaCreate
    from services.registry.service import create_area

    repo = AreaRepository(session)
    created = 0
    for area in DEMO_AREAS:  # parents come before their children
        if await repo.get(area.code) is not None:
            continue
        await create_area(session, DEMO_IDENTITY, AreaCreate(code=area.code, name=area.name,
                                                             name_local=area.name_local))
        created += 1
    return created
