"""Migration 0005 renames the *_paise amounts to *_minor on a database made before it, keeps the
values (and a booking's term snapshot), and goes back on downgrade."""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlparse

import asyncpg
from alembic import command

from kernel.migrations import alembic_config

COLUMNS = "SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = 'marketplace' " \
          "AND (column_name LIKE '%\\_paise' OR column_name LIKE '%\\_minor') ORDER BY 1"


def test_amount_columns_move_to_minor_units_with_their_values(pg_server_url: str) -> None:
    name = f"{os.environ.get('GRAMSETU_TEST_DB_PREFIX', 'gramsetu_test')}_minor_units"
    url = urlparse(pg_server_url)._replace(path=f"/{name}").geturl()

    async def sql(statements: list[str], server: bool = False) -> list[str]:
        conn = await asyncpg.connect(pg_server_url if server else url)
        try:
            out = []
            for statement in statements:
                out = [r[0] for r in await conn.fetch(statement)]
            return out
        finally:
            await conn.close()

    asyncio.run(sql([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'], server=True))
    cfg = alembic_config("marketplace", url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "0004")  # the schema as 0004 first made it
    before = asyncio.run(sql([COLUMNS]))
    assert "booking.price_paise" in before and not [c for c in before if c.endswith("_minor")]
    asyncio.run(sql([
        "INSERT INTO marketplace.category (code, name, skill_no) VALUES ('c', 'c', 1)",
        "INSERT INTO marketplace.rate_item (code, category_code, kind, name) VALUES ('c.job', 'c', 'job', 'job')",
        "INSERT INTO marketplace.rate (id, item_code, area_code, valid_from, amount_paise, created_by) VALUES "
        "('00000000-0000-0000-0000-000000000001', 'c.job', 'BD-40', '2026-01-01', 35000, 't')",
        "INSERT INTO marketplace.booking (channel, status, category_code, job_code, area_code, lat, lon, address, "
        "slot_start, slot_end, customer_name, customer_phone, customer_subject, max_radius_km, priced_on, "
        "job_rate_id, price_paise, visit_charge_paise, terms, start_otp_hash, completion_otp_hash, created_by) VALUES "
        "('app', 'requested', 'c', 'c.job', 'BD-40-87', 22.3, 89.1, 'x', now(), now() + interval '1 hour', 'x', "
        "'+8801711000000', 't', 15, '2026-12-07', '00000000-0000-0000-0000-000000000001', 35000, 5000, "
        "'{\"assigned_fee_paise\": 2000, \"free_before_minutes\": 60}', 'h', 'h', 't')",
    ]))
    command.upgrade(cfg, "head")
    after = asyncio.run(sql([COLUMNS]))
    assert [c.replace("_paise", "_minor") for c in before] == after
    assert asyncio.run(sql(["SELECT price_minor::text || '/' || visit_charge_minor || '/' || (terms ->> "
                            "'assigned_fee_minor') || '/' || (terms ? 'assigned_fee_paise') FROM marketplace.booking"
                            ])) == ["35000/5000/2000/false"]
    assert asyncio.run(sql(["SELECT amount_minor::text FROM marketplace.rate"])) == ["35000"]
    command.downgrade(cfg, "0004")
    assert asyncio.run(sql([COLUMNS])) == before
    asyncio.run(sql([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], server=True))
