"""``kernel.queries.raw_connection``: raw statements on a session's connection belong to its transaction."""

from __future__ import annotations

import asyncpg
import pytest

from kernel.db import asyncpg_dsn, make_engine, make_sessionmaker
from kernel.queries import raw_connection


@pytest.fixture
async def probe(clean, database_url):
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    await conn.execute("CREATE TABLE IF NOT EXISTS public.raw_connection_probe (n int)")
    await conn.execute("DELETE FROM public.raw_connection_probe")
    yield conn
    await conn.execute("DROP TABLE public.raw_connection_probe")
    await conn.close()


@pytest.fixture
async def sessionmaker(database_url):
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.mark.parametrize("ending", ["rollback", "commit"])
async def test_a_raw_statement_made_first_is_undone_by_a_rollback_and_kept_by_a_commit(probe, sessionmaker, ending):
    # The adapter sends BEGIN before its own first statement only; a raw statement made first used to
    # commit on its own, so a failed request's rollback left its row behind.
    async with sessionmaker() as session:
        conn = await raw_connection(session)
        assert conn.is_in_transaction()
        await conn.execute("INSERT INTO public.raw_connection_probe VALUES (1)")
        assert await probe.fetchval("SELECT count(*) FROM public.raw_connection_probe") == 0  # not yet visible
        await getattr(session, ending)()
    expected = 0 if ending == "rollback" else 1
    assert await probe.fetchval("SELECT count(*) FROM public.raw_connection_probe") == expected


async def test_raw_and_orm_statements_share_one_transaction_in_either_order(probe, sessionmaker):
    from sqlalchemy import text

    async with sessionmaker() as session:
        await session.execute(text("INSERT INTO public.raw_connection_probe VALUES (1)"))
        conn = await raw_connection(session)
        await conn.execute("INSERT INTO public.raw_connection_probe VALUES (2)")
        await session.execute(text("INSERT INTO public.raw_connection_probe VALUES (3)"))
        await session.rollback()
    assert await probe.fetchval("SELECT count(*) FROM public.raw_connection_probe") == 0
