"""Drill: the relay's COMMIT gets no answer (its PostgreSQL backend is SIGSTOPped during COMMIT).

Before, asyncpg sent the relay's COMMIT with no client-side timeout, so a server that stopped
answering held a relay worker (and its pooled connection) for good.  Now every database wait of
the relay is bounded (``db_relay_command_timeout_seconds``): the COMMIT times out, the connection
is ended, the transaction counts as not done, and the worker carries on by itself.

To stop the backend *during* COMMIT, a deferred constraint trigger on the outbox sleeps 0.3 s once
per transaction at commit time while the drill is armed; the drill finds the backend in
``pg_stat_activity`` (``query = 'COMMIT'``, waiting in ``PgSleep``) and SIGSTOPs it for longer
than the bound.  Then either

* ``sigcont``: the backend resumes and finishes its COMMIT (the rows were published and are now
  deleted: nothing to redo), or
* ``restart``: the backend is killed, PostgreSQL restarts (crash recovery), the COMMIT never
  happened, and the rows are published again under the same ids: JetStream drops the repeats.

The relay runs one interactive worker, the one that was stalled: the writes made while the backend
is still stopped are published only if that worker gave its COMMIT up (with the old unbounded
COMMIT the drill waits in vain).  Either way every committed area's event is stored and applied
exactly once, and the relay recovers without any help.
"""

from __future__ import annotations

import asyncio
import os
import signal

import asyncpg
import pytest

from kernel.dlq import dlq_size
from services.registry.app import SPEC as REGISTRY_SPEC
from tests.failure.backbone import (
    PROBE_CONSUMER,
    Probe,
    Stack,
    WriteLog,
    committed_areas,
    consumer_settled,
    counter_value,
    district_codes,
    fetch_value,
    jetstream,
    probe_effects,
    running,
    stream_event_ids,
    wait_until,
    write_areas,
)
from tests.failure.test_backbone_drills import tally

pytestmark = pytest.mark.timeout(150)

BOUND = 1.0  # the relay's database timeout in this drill

SLOW_COMMIT = """
CREATE TABLE registry.drill_armed (armed boolean NOT NULL);
INSERT INTO registry.drill_armed VALUES (false);
CREATE FUNCTION registry.drill_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT armed FROM registry.drill_armed) AND current_setting('drill.slept', true) IS DISTINCT FROM 'yes' THEN
    PERFORM set_config('drill.slept', 'yes', true);
    PERFORM pg_sleep(0.3);
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER drill_slow_commit AFTER DELETE ON registry.outbox
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION registry.drill_slow_commit();
"""
IN_COMMIT = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND query = 'COMMIT' AND state = 'active' AND wait_event = 'PgSleep'
LIMIT 1
"""
# Outbox rows no session holds: with the stalled backend's rows locked, the rest must still flow.
UNHELD = "SELECT count(*) FROM (SELECT 1 FROM registry.outbox FOR UPDATE SKIP LOCKED) AS free"


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _catch_a_commit(url: str) -> int:
    """The pid of a relay backend caught sleeping inside COMMIT (the trigger), SIGSTOPped."""
    await _execute(url, "UPDATE registry.drill_armed SET armed = true")
    pid = None
    for _ in range(600):
        pid = await fetch_value(url, IN_COMMIT)
        if pid:
            break
        await asyncio.sleep(0.01)
    assert pid, "no relay COMMIT was caught"
    os.kill(pid, signal.SIGSTOP)
    await _execute(url, "UPDATE registry.drill_armed SET armed = false")
    return int(pid)


@pytest.mark.parametrize("then", ["sigcont", "restart"])
async def test_a_commit_that_gets_no_answer_is_given_up_and_the_relay_carries_on(stack: Stack, then: str) -> None:
    settings = stack.settings(db_relay_command_timeout_seconds=BOUND, relay_concurrency=1)
    url = stack.pg.url
    probe = Probe()
    await _execute(url, SLOW_COMMIT)
    duplicates_before = counter_value("gramsetu_events_publish_duplicates_total", service="registry")
    timeouts_before = counter_value("gramsetu_relay_database_timeouts_total", service="registry", step="commit")
    async with running(REGISTRY_SPEC, settings) as producer, running(probe.consumer_spec(), settings):
        assert producer.sessionmaker is not None
        await write_areas(producer.sessionmaker, district_codes(10), WriteLog(), timeout=20)
        # Written during the catch and after it: the backend stays stopped (far longer than the
        # bound) while the rest of them are written and published.
        writer = asyncio.create_task(
            write_areas(producer.sessionmaker, district_codes(40, state="IN-02"), WriteLog(), timeout=60))
        pid = await _catch_a_commit(url)
        try:
            log = await writer
            await wait_until(lambda: _nothing_unheld(url), timeout=30,
                             what="the relay to publish around the stopped backend's rows")
            held = int(await fetch_value(url, "SELECT count(*) FROM registry.outbox"))
            timed_out = counter_value("gramsetu_relay_database_timeouts_total", service="registry",
                                      step="commit") - timeouts_before
        finally:
            if then == "sigcont":
                os.kill(pid, signal.SIGCONT)
            else:
                os.kill(pid, signal.SIGKILL)  # PostgreSQL restarts every backend (crash recovery)
        await write_areas(producer.sessionmaker, district_codes(10, state="IN-03"), WriteLog(), timeout=30)
        expected = await committed_areas(url)
        await wait_until(lambda: _drained(url), timeout=30, what="the outbox to drain after the stall")
        await wait_until(lambda: _applied(url, expected), timeout=30, what="the probe to apply every event")
        await wait_until(lambda: consumer_settled(stack.broker.url, PROBE_CONSUMER), timeout=20, what="settled")
    stored = await stream_event_ids(stack.broker.url)
    effects = await probe_effects(url)
    async with jetstream(stack.broker.url) as js:
        parked = await dlq_size(js)
    duplicates = counter_value("gramsetu_events_publish_duplicates_total", service="registry") - duplicates_before
    tally(f"relay COMMIT stalled, then {then}", accepted=expected, published=sum(stored.values()),
          applied=effects.rows, parked=parked, commits_given_up=int(timed_out), rows_held_while_stopped=held,
          writer_retries=log.retries,
          republished_dropped=int(duplicates))
    assert timed_out >= 1
    assert sum(stored.values()) == len(stored) == expected  # each event stored once
    assert effects.rows == effects.distinct_events == expected  # ... and applied once
    assert parked == 0


async def _nothing_unheld(url: str) -> bool:
    return int(await fetch_value(url, UNHELD)) == 0


async def _drained(url: str) -> bool:
    return int(await fetch_value(url, "SELECT count(*) FROM registry.outbox")) == 0


async def _applied(url: str, expected: int) -> bool:
    return (await probe_effects(url)).distinct_events >= expected
