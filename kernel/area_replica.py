"""A local copy of the area hierarchy, kept by consuming the registry's area events.

Services other than the registry need areas (escalation up the hierarchy, campaign targets,
worker service areas) but must not call into the registry's database, so each keeps this
read model.  Updates apply only when their version is newer, so a late or replayed event
never overwrites fresher data.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Envelope, Event
from contracts.registry import AreaCreated, AreaUpdated
from kernel.areas import area_code_type
from kernel.consumer import Subscription


def area_replica_table(metadata: MetaData, schema: str) -> Table:
    return Table(
        "area",
        metadata,
        Column("code", area_code_type(), primary_key=True),
        Column("parent_code", area_code_type(), nullable=True, index=True),
        Column("level", String(32), nullable=False),
        Column("name", String(200), nullable=False),
        Column("name_local", String(200), nullable=True),
        Column("version", Integer, nullable=False),
        schema=schema,
    )


def create_area_replica_table(op: object, schema: str) -> None:
    area_replica_table(MetaData(), schema).create(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]


def area_replica_subscription(service: str) -> Subscription:
    upsert = text(
        f'INSERT INTO "{service}".area (code, parent_code, level, name, name_local, version) '
        "VALUES (:code, :parent_code, :level, :name, :name_local, :version) "
        "ON CONFLICT (code) DO UPDATE SET parent_code = EXCLUDED.parent_code, level = EXCLUDED.level, "
        "name = EXCLUDED.name, name_local = EXCLUDED.name_local, version = EXCLUDED.version "
        f'WHERE "{service}".area.version < EXCLUDED.version'
    )

    fields = {"code", "parent_code", "level", "name", "name_local", "version"}

    async def apply(session: AsyncSession, event: Event, envelope: Envelope) -> None:
        assert isinstance(event, (AreaCreated, AreaUpdated))
        await session.execute(upsert, event.model_dump(include=fields))

    async def apply_all(session: AsyncSession, events: list[tuple[Event, Envelope]]) -> None:
        """A batch in one statement (one round trip instead of one per event); per area the newest
        version only, since one statement cannot update a row twice."""
        newest: dict[str, AreaCreated | AreaUpdated] = {}
        for event, _ in events:
            assert isinstance(event, (AreaCreated, AreaUpdated))
            if event.code not in newest or newest[event.code].version < event.version:
                newest[event.code] = event
        rows = [event.model_dump(include=fields) for event in newest.values()]
        await session.execute(upsert_all, {name: [row[name] for row in rows] for name in fields})

    upsert_all = text(
        f'INSERT INTO "{service}".area (code, parent_code, level, name, name_local, version) '
        "SELECT * FROM unnest(CAST(:code AS text[]), CAST(:parent_code AS text[]), CAST(:level AS text[]), "
        "CAST(:name AS text[]), CAST(:name_local AS text[]), CAST(:version AS int[])) "
        "ON CONFLICT (code) DO UPDATE SET parent_code = EXCLUDED.parent_code, level = EXCLUDED.level, "
        "name = EXCLUDED.name, name_local = EXCLUDED.name_local, version = EXCLUDED.version "
        f'WHERE "{service}".area.version < EXCLUDED.version'
    )
    return Subscription(name=f"{service}-area-replica", subject="registry.area.*.v1", handler=apply,
                        batch_handler=apply_all)
