"""Alembic, one migration tree per service, each in its own PostgreSQL schema.

Each service keeps ``services/<name>/migrations/`` with an ``env.py`` that calls
:func:`run_env`; its version table lives in its own schema, so services migrate
independently.  :func:`create_kernel_tables` is what every service's first revision calls,
so the outbox/inbox/scheduler/audit DDL is written once; later kernel table changes are helpers
here too (:func:`add_outbox_batches`) that each service's revision calls.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from kernel.db import sqlalchemy_url
from kernel.tables import kernel_tables, outbox_check_name

ROOT = Path(__file__).resolve().parent.parent


def migrations_dir(service: str) -> Path:
    base = ROOT / "gateway" if service == "gateway" else ROOT / "services" / service
    return base / "migrations"


def alembic_config(service: str, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir(service)))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url))
    cfg.attributes["schema"] = service
    return cfg


def upgrade(service: str, database_url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(service, database_url), revision)


def create_kernel_tables(op: object, schema: str) -> None:
    """Create outbox, inbox, scheduled_job and audit_event in ``schema`` (inside a migration)."""
    metadata = MetaData()
    tables = kernel_tables(metadata, schema)
    bind = op.get_bind()  # type: ignore[attr-defined]
    for name in FIRST_KERNEL_TABLES:
        tables[name].create(bind, checkfirst=True)
    add_outbox_batches(op, schema)


# The tables of the first revision; later ones come from the helpers below (each revision drops what it added).
FIRST_KERNEL_TABLES = ("outbox", "inbox", "scheduled_job", "audit_event")
BACKBONE_TABLES = ("outbox_quarantine", "entity_version", "external_effect")


def add_backbone_hardening(op: object, schema: str) -> None:
    """Per-row publish attempts and the quarantine, entity versions for ordered consumers,
    external-effect records, scheduler leases (idempotent, like :func:`add_outbox_batches`)."""
    tables = kernel_tables(MetaData(), schema)
    bind = op.get_bind()  # type: ignore[attr-defined]
    for name in BACKBONE_TABLES:
        tables[name].create(bind, checkfirst=True)
    for statement in (
        f'ALTER TABLE "{schema}".outbox ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0',
        f'ALTER TABLE "{schema}".outbox ADD COLUMN IF NOT EXISTS last_error text',
        f'ALTER TABLE "{schema}".scheduled_job ADD COLUMN IF NOT EXISTS lease_owner text',
        f'ALTER TABLE "{schema}".scheduled_job ADD COLUMN IF NOT EXISTS lease_until timestamptz',
    ):
        op.execute(statement)  # type: ignore[attr-defined]


def drop_backbone_hardening(op: object, schema: str) -> None:
    for name in reversed(BACKBONE_TABLES):
        op.execute(f'DROP TABLE IF EXISTS "{schema}".{name}')  # type: ignore[attr-defined]
    for statement in (
        f'ALTER TABLE "{schema}".outbox DROP COLUMN IF EXISTS attempts',
        f'ALTER TABLE "{schema}".outbox DROP COLUMN IF EXISTS last_error',
        f'ALTER TABLE "{schema}".scheduled_job DROP COLUMN IF EXISTS lease_owner',
        f'ALTER TABLE "{schema}".scheduled_job DROP COLUMN IF EXISTS lease_until',
    ):
        op.execute(statement)  # type: ignore[attr-defined]


def add_outbox_batches(op: object, schema: str) -> None:
    """Let an outbox row carry a batch of events (``batch``, ``events``) instead of one ``payload``.

    Idempotent: a fresh database's first revision already builds the outbox from
    ``kernel/tables.py`` (which has these columns), then the revision that calls this runs too.
    ``batch`` is stored uncompressed: the bulk writers that fill it are CPU-bound.
    """
    table = f'"{schema}".outbox'
    check = outbox_check_name(schema)
    for statement in (
        f"ALTER TABLE {table} ALTER COLUMN payload DROP NOT NULL",
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS batch text",
        f"ALTER TABLE {table} ALTER COLUMN batch SET STORAGE EXTERNAL",
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS events integer NOT NULL DEFAULT 1",
        f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "{check}"',
        f'ALTER TABLE {table} ADD CONSTRAINT "{check}" CHECK ((payload IS NULL) <> (batch IS NULL))',
        # The relay finds the first batch row without reading the single-event rows before it.
        f'CREATE INDEX IF NOT EXISTS "ix_{schema}_outbox_batch_seq" ON {table} (seq) WHERE batch IS NOT NULL',
    ):
        op.execute(statement)  # type: ignore[attr-defined]


def drop_outbox_batches(op: object, schema: str) -> None:
    """Undo :func:`add_outbox_batches`; fails (and changes nothing) while batch rows are unpublished."""
    table = f'"{schema}".outbox'
    for statement in (
        f"ALTER TABLE {table} ALTER COLUMN payload SET NOT NULL",
        f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "{outbox_check_name(schema)}"',
        f'DROP INDEX IF EXISTS "{schema}"."ix_{schema}_outbox_batch_seq"',
        f"ALTER TABLE {table} DROP COLUMN IF EXISTS events",
        f"ALTER TABLE {table} DROP COLUMN IF EXISTS batch",
    ):
        op.execute(statement)  # type: ignore[attr-defined]


def run_env(schema: str, target_metadata: MetaData | None = None) -> None:
    """Body of every service's ``migrations/env.py``."""
    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url")
    assert url is not None

    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        return name == schema if type_ == "schema" else True

    def do_run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=include_name,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            # Serialise concurrent migrators (several replicas starting at once).
            await connection.execute(text("SELECT pg_advisory_lock(hashtext(:s))"), {"s": f"migrate:{schema}"})
            await connection.commit()
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, version_table_schema=schema)
        with context.begin_transaction():
            context.run_migrations()
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run_async())
        return
    raise RuntimeError("run migrations from a thread without an event loop (use asyncio.to_thread)")
