"""Drills with real signals: a service process (``gramsetu serve registry``, its relay inside) and a
consumer process are SIGSTOPped while they hold row locks and unacknowledged messages, kept
stopped past AckWait and the server's idle-in-transaction timeout, then SIGCONTed.

The processes are caught mid-transaction, not asked to pause: a drill stops the process, checks in
``pg_stat_activity``/``pg_locks`` that one of its sessions sits idle in a transaction holding locks
on the table that matters, and otherwise lets it run a few milliseconds and tries again.  Each
drill prints its tally and asserts exactly-once effects (the probe's table has no unique key).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gramsetu.embedded import free_port
from kernel.dlq import dlq_size
from kernel.relay import OutboxRelay
from services.registry.app import SPEC as REGISTRY_SPEC
from tests.failure.backbone import (
    Probe,
    Stack,
    WriteLog,
    committed_areas,
    consumer_settled,
    district_codes,
    fetch_value,
    jetstream,
    probe_effects,
    process,
    running,
    stream_event_ids,
    wait_until,
    write_areas,
)
from tests.failure.test_backbone_drills import PROBE_CONSUMER, tally

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

HELD_LOCKS = """
SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
WHERE a.state = 'idle in transaction' AND a.datname = current_database() AND l.relation = $1::regclass
"""


async def stop_mid_transaction(proc: subprocess.Popen[bytes], url: str, table: str, tries: int = 200) -> int:
    """SIGSTOP ``proc`` at a moment one of its sessions holds locks on ``table`` inside a
    transaction; returns how many tries it took."""
    for attempt in range(1, tries + 1):
        os.kill(proc.pid, signal.SIGSTOP)
        await asyncio.sleep(0.05)  # the last statement's reply has reached the server's view
        if await fetch_value(url, HELD_LOCKS, table):
            return attempt
        os.kill(proc.pid, signal.SIGCONT)
        await asyncio.sleep(0.003 * (attempt % 7))
    raise AssertionError(f"never caught the process inside a transaction on {table} in {tries} tries")


def service_env(values: dict[str, Any]) -> dict[str, str]:
    return {f"GRAMSETU_{key.upper()}": value if isinstance(value, str) else json.dumps(value)
            for key, value in values.items()}


async def test_sigstop_the_service_process_holding_outbox_rows(stack: Stack, tmp_path: Path) -> None:
    """The registry service process (its relay claims rows) is stopped mid-batch for 3 s: another
    relay replica publishes the rows once PostgreSQL ends the stopped session (1 s), the stopped
    process resumes by itself after SIGCONT and publishes later writes, and every event is stored
    and applied once."""
    values = stack.settings_values(db_idle_in_transaction_timeout_seconds=1.0, relay_batch_size=20)
    settings = stack.settings(**values)
    url = stack.pg.url
    port = free_port()
    args = [sys.executable, "-m", "gramsetu.cli", "serve", "registry", "--port", str(port), "--workers"]
    with process(args, service_env(values), tmp_path / "registry.log") as service:
        async def ready() -> bool:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"http://127.0.0.1:{port}/readyz", timeout=2)).status_code == 200

        await wait_until(ready, timeout=60, what="the registry service process")
        async with running(REGISTRY_SPEC, settings, workers=False) as producer:
            assert producer.sessionmaker is not None and producer.pool is not None and producer.js is not None
            log = WriteLog()
            codes = district_codes(600)
            await write_areas(producer.sessionmaker, codes[:1], log, timeout=20)  # the state, then 4 writers
            writer = asyncio.gather(*(write_areas(producer.sessionmaker, codes[1 + k::4], log, timeout=90)
                                      for k in range(4)))
            await wait_until(lambda: _has_outbox(url), timeout=20, what="events in the outbox")
            tries = await stop_mid_transaction(service, url, "registry.outbox")
            stopped_at = time.monotonic()
            other = OutboxRelay(service="registry", schema="registry", pool=producer.pool, js=producer.js,
                                batch_size=20, poll_interval=0.05)
            stop_other = asyncio.Event()
            other_task = asyncio.create_task(other.run(stop_other))
            await writer
            await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - stopped_at)))
            await wait_until(lambda: _outbox_empty(url), timeout=20, what="the other replica to drain the outbox")
            os.kill(service.pid, signal.SIGCONT)
            await asyncio.sleep(1.0)
            stop_other.set()
            await other_task
            # Only the resumed process relays now: it recovered by itself.
            await write_areas(producer.sessionmaker, district_codes(20, state="IN-02"), log, timeout=30)
            await wait_until(lambda: _outbox_empty(url), timeout=20, what="the resumed process to publish")
            assert service.poll() is None, "the service process died after SIGCONT"
        expected = await committed_areas(url)
    probe = Probe()
    async with running(probe.consumer_spec(), settings):
        await wait_until(lambda: _applied(url, expected), timeout=60, what="every effect")
        await wait_until(lambda: consumer_settled(stack.broker.url, PROBE_CONSUMER), timeout=20, what="settled")
    effects = await probe_effects(url)
    stored = await stream_event_ids(stack.broker.url)
    tally("SIGSTOP service process", tries=tries, accepted=expected, stored=sum(stored.values()),
          applied=effects.rows, parked=await _parked(stack))
    assert len(stored) == expected and max(stored.values()) == 1  # a re-publish was dropped by JetStream
    assert effects.rows == effects.distinct_events == expected
    assert await _parked(stack) == 0


async def test_sigstop_a_consumer_process_mid_transaction_past_ack_wait(stack: Stack, tmp_path: Path) -> None:
    """A consumer process is stopped inside its batch transaction (inbox rows locked, messages
    unacked) for 3 s, past AckWait (1 s): the other consumer gets the redeliveries, waits out the
    stopped session's locks (lock_timeout, then the server's idle-in-transaction timeout) without
    parking anything, and after SIGCONT the stopped process carries on; every effect applies once."""
    values = stack.settings_values(db_idle_in_transaction_timeout_seconds=1.0, db_lock_timeout_seconds=0.3)
    settings = stack.settings(**values)
    url = stack.pg.url
    codes = district_codes(150)
    args = [sys.executable, "-m", "tests.failure.worker", json.dumps(values), json.dumps(codes), "0.05"]
    with process(args, {}, tmp_path / "consumer.log") as worker:
        await wait_until(lambda: _consumer_exists(stack), timeout=60, what="the consumer process")
        async with running(REGISTRY_SPEC, settings) as producer:
            assert producer.sessionmaker is not None
            writer = asyncio.create_task(write_areas(producer.sessionmaker, codes, WriteLog(), timeout=60))
            await wait_until(lambda: _applied(url, 5), timeout=30, what="the consumer process at work")
            tries = await stop_mid_transaction(worker, url, "tickets.inbox")
            at_stop = (await probe_effects(url)).distinct_events
            async with running(Probe().consumer_spec(), settings):  # the other consumer replica
                await writer
                await asyncio.sleep(3.0)
                while_stopped = (await probe_effects(url)).distinct_events - at_stop
                os.kill(worker.pid, signal.SIGCONT)
                expected = await committed_areas(url)
                await wait_until(lambda: _applied(url, expected), timeout=60, what="every effect")
                await wait_until(lambda: consumer_settled(stack.broker.url, PROBE_CONSUMER), timeout=30,
                                 what="the probe consumer settled")
            assert worker.poll() is None, "the consumer process died after SIGCONT"
    effects = await probe_effects(url)
    parked = await _parked(stack)
    tally("SIGSTOP consumer process", tries=tries, accepted=expected, applied_while_stopped=while_stopped,
          applied=effects.rows, distinct=effects.distinct_events, parked=parked)
    assert while_stopped > 0  # the others carried on
    assert effects.rows == effects.distinct_events == expected
    assert parked == 0


async def _has_outbox(url: str) -> bool:
    return int(await fetch_value(url, "SELECT count(*) FROM registry.outbox")) > 0


async def _outbox_empty(url: str) -> bool:
    return int(await fetch_value(url, "SELECT count(*) FROM registry.outbox")) == 0


async def _applied(url: str, expected: int) -> bool:
    return (await probe_effects(url)).distinct_events >= expected


async def _consumer_exists(stack: Stack) -> bool:
    async with jetstream(stack.broker.url) as js:
        await js.consumer_info("REGISTRY", PROBE_CONSUMER)
        return True


async def _parked(stack: Stack) -> int:
    async with jetstream(stack.broker.url) as js:
        return await dlq_size(js)
