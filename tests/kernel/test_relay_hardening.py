"""The relay cannot hang or be stopped by one row: bounded publishes, JetStream errors with their
reason, and an outage never counted against a row (real PostgreSQL and NATS).  The quarantine of
an oversized event and a corrupt batch row, with the rows behind them flowing, is a drill:
tests/failure/test_backbone_drills.py; `gramsetu outbox list|retry|drop` is tests/test_cli.py."""

from __future__ import annotations

import asyncio

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.js.api import StreamConfig

from kernel.bus import jetstream, publish_async
from kernel.relay import OutboxRelay, PublishIncomplete
from kernel.runtime import Runtime
from tests.kernel.test_outbox_batches import SCHEMA, add_single, fetch


@pytest.fixture
async def nc(nats_url: str, clean: None):
    conn = await nats.connect(nats_url)
    yield conn
    await conn.close()


async def test_library_publish_async_leaks_its_slot_on_a_failed_send(nc) -> None:
    """Why kernel.bus has its own publish_async: nats-py 2.16 keeps the slot of a send that raised.
    If this starts failing, the library fixed it (re-check and relax the pin in pyproject.toml)."""
    js = nc.jetstream(publish_async_max_pending=2)
    too_big = b"x" * (nc.max_payload + 1)
    for _ in range(2):
        with pytest.raises(nats.errors.MaxPayloadError):
            await js.publish_async("leak.test", too_big)
    with pytest.raises(nats.js.errors.TooManyStalledMsgsError):  # both slots are gone for good
        await js.publish_async("leak.test", b"ok", wait_stall=0.2)


async def test_kernel_publish_async_returns_the_slot_and_bounds_the_wait(nc) -> None:
    js = jetstream(nc, max_pending=2)
    await js.add_stream(StreamConfig(name="LEAK", subjects=["leak.>"]))
    too_big = b"x" * (nc.max_payload + 1)
    for _ in range(5):
        with pytest.raises(nats.errors.MaxPayloadError):
            await publish_async(js, "leak.test", too_big, headers={}, timeout=0.5)
    await asyncio.sleep(0)  # done callbacks (which return the slot) run on the next loop pass
    assert js.publish_async_pending() == 0
    acks = [await publish_async(js, "leak.test", b"ok", headers={}, timeout=0.5) for _ in range(2)]
    assert [(await a).seq for a in acks] == [1, 2]
    await js.delete_stream("LEAK")


async def test_a_jetstream_error_reply_fails_the_future_with_its_reason(nc) -> None:
    """nats.py#985: without kernel.bus.harden_jetstream the future never completes (a timeout)."""
    js = jetstream(nc)
    await js.add_stream(StreamConfig(name="SMALL", subjects=["small.>"], max_msg_size=64))
    future = await publish_async(js, "small.x", b"y" * 200, headers={}, timeout=1)
    with pytest.raises(nats.js.errors.APIError, match="message size exceeds maximum"):
        await asyncio.wait_for(future, timeout=2)
    await js.delete_stream("SMALL")


async def test_an_outage_never_counts_against_a_row(registry_runtime: Runtime, nats_url: str) -> None:
    """Storage full (a stream at its byte limit with discard new) is the broker's problem, not the row's:
    the rows stay in the outbox with no attempts, and flow once there is space."""
    runtime = registry_runtime
    assert runtime.pool is not None and runtime.js is not None
    info = await runtime.js.stream_info("REGISTRY")
    config = info.config
    full = StreamConfig.from_response({**config.as_dict(), "max_bytes": 1, "discard": "new"})
    await runtime.js.update_stream(full)
    await add_single(runtime, 1)
    relay = OutboxRelay(service="registry-full", schema=SCHEMA, pool=runtime.pool, js=runtime.js,
                        max_attempts=1, publish_timeout=1)
    for _ in range(3):
        with pytest.raises(PublishIncomplete, match="storage_full"):
            await relay.publish_batch()
    assert await fetch(runtime, "SELECT attempts FROM registry.outbox") == 0
    await runtime.js.update_stream(config)
    assert await relay.drain() == 1



class _LoopsDieOnce(OutboxRelay):
    """A relay whose interactive loops each end once, outside their own error handling (as they were
    seen to after a PostgreSQL restart: gone, with rows left in the outbox)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.deaths = 0

    async def _after_interactive_claim(self, stop: asyncio.Event, published: int) -> None:
        if self.deaths < self.concurrency:
            self.deaths += 1
            raise asyncio.CancelledError  # not an Exception: nothing inside the loop catches it
        await super()._after_interactive_claim(stop, published)


async def test_a_relay_loop_that_ends_is_started_again(registry_runtime: Runtime, caplog) -> None:
    runtime = registry_runtime
    assert runtime.pool is not None and runtime.js is not None
    relay = _LoopsDieOnce(service="registry-loops", schema=SCHEMA, pool=runtime.pool, js=runtime.js,
                          poll_interval=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await add_single(runtime, 1)
        for _ in range(100):
            if relay.deaths == relay.concurrency and await fetch(runtime, "SELECT count(*) FROM registry.outbox") == 0:
                break
            await asyncio.sleep(0.05)
        await add_single(runtime, 2)  # after both interactive loops ended once
        for _ in range(100):
            if await fetch(runtime, "SELECT count(*) FROM registry.outbox") == 0:
                break
            await asyncio.sleep(0.05)
        assert await fetch(runtime, "SELECT count(*) FROM registry.outbox") == 0
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)
    assert relay.deaths == relay.concurrency
    assert sum("interactive-" in r.getMessage() and "starting it again" in r.getMessage()
               for r in caplog.records) == relay.concurrency
