"""Writers notify only a sleeping relay: an awake relay polls by itself and tells writers so (an
advisory lock), because a notify per write serialises concurrent commits cluster-wide.  Real
PostgreSQL LISTEN/NOTIFY and a running relay; the relay's poll interval is a minute, so only a
notification or its own awake polling can publish an event in time."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg

from kernel.outbox import notify_channel
from kernel.relay import OutboxRelay
from kernel.runtime import Runtime
from tests.kernel.test_outbox_batches import SCHEMA, add_single, fetch


async def until(check, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout, f"{what} took more than {timeout} s"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def test_writers_skip_the_notify_while_the_relay_is_awake_and_wake_it_when_asleep(
    registry_runtime: Runtime, database_url: str
) -> None:
    producer = registry_runtime
    assert producer.pool is not None and producer.js is not None
    relay = OutboxRelay(service="registry-awake", schema=SCHEMA, pool=producer.pool, js=producer.js,
                        poll_interval=60.0, awake_seconds=0.4)
    heard: Counter[str] = Counter()
    listener = await asyncpg.connect(database_url)
    await listener.add_listener(notify_channel(SCHEMA), lambda *args: heard.update([args[3]]))
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))

    async def drained() -> bool:
        return await fetch(producer, "SELECT count(*) FROM registry.outbox") == 0

    async def asleep() -> bool:
        return not relay.flag_raised

    async def awake() -> bool:
        return relay.flag_raised

    async def listening() -> bool:
        return relay._listener is not None

    try:
        await until(listening, 10, "the relay's LISTEN")
        await asyncio.sleep(0.5)  # past its start-up claims: asleep, waiting for a notification
        assert not relay.flag_raised
        # Asleep: the write notifies, the relay wakes at once and stays awake.
        await add_single(producer, 1)
        first = await until(drained, 5, "publishing the first event")
        await until(awake, 1, "the relay raising its awake flag")
        assert heard[""] == 1
        # Awake: a stream of writes notifies nobody, and each is published within milliseconds.
        for n in range(2, 22):
            await add_single(producer, n)
            await asyncio.sleep(0.01)
        burst = await until(drained, 5, "publishing the burst")
        assert heard[""] == 1, "writers notified an awake relay"
        # Idle for awake_seconds: it lowers the flag and sleeps; the next write notifies again.
        await until(asleep, 5, "the relay going back to sleep")
        await asyncio.sleep(0.2)
        await add_single(producer, 99)
        last = await until(drained, 5, "publishing after sleep")
        assert heard[""] == 2
        print(f"\npublished after {first * 1000:.0f} ms (asleep, notified), burst drained {burst * 1000:.0f} ms "
              f"after its last write (awake, no notify), {last * 1000:.0f} ms after sleeping again")
        assert max(first, last) < 1.0 and burst < 1.0  # the minute-long poll never had to run
        assert (await producer.js.stream_info("REGISTRY")).state.messages == 22
    finally:
        stop.set()
        await task
        await listener.close()
    assert not relay.flag_raised  # a stopped relay leaves no flag behind: writers notify again
