"""A drill's scheduler worker process: the kernel Scheduler running ``drill.callback`` jobs, each
a POST to a receiver sent through kernel.effects, as its own OS process so a drill can SIGKILL it.

``python -m tests.failure.scheduler_worker <database url> <receiver url> <lease seconds>``: prints
``ready`` once it polls, ``recorded <key>`` after an effect's outcome is stored (before the job's
own transaction commits; a job whose payload has ``linger`` then waits there after a send, so a drill can kill
the worker between the two), and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.db import make_engine, make_sessionmaker
from kernel.effects import EffectAttempt, perform_effect
from kernel.scheduler import Job, Scheduler

KIND = "drill.callback"
SCHEMA = "registry"


def handler(receiver: str):  # type: ignore[no-untyped-def]
    async def send_callback(session: AsyncSession, job: Job) -> None:
        async def send(attempt: EffectAttempt) -> dict[str, Any]:
            async with aiohttp.ClientSession() as http, http.post(
                receiver, json={"job": job.key}, headers={"Idempotency-Key": attempt.key}
            ) as reply:
                reply.raise_for_status()
                return dict(await reply.json())

        outcome = await perform_effect(session, SCHEMA, kind="callback", key=job.key, send=send)
        print(f"recorded {job.key}", flush=True)
        if job.payload.get("linger") and outcome.sent_now:
            await asyncio.sleep(3600)  # the drill kills the process here, before the job commits

    return send_callback


async def main(database_url: str, receiver: str, lease_seconds: float) -> None:
    engine = make_engine(database_url, pool_size=2, max_overflow=2)
    scheduler = Scheduler(service="registry", schema=SCHEMA, sessionmaker=make_sessionmaker(engine),
                          handlers={KIND: handler(receiver)}, lease_seconds=lease_seconds, poll_interval=0.05)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    try:
        await scheduler.run(stop)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
