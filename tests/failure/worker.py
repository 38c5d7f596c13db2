"""A drill's worker process: the production Runtime of the probe consumer (tickets + the failure
probe), run as its own OS process so a drill can SIGSTOP/SIGCONT/SIGKILL it for real.

``python -m tests.failure.worker '<settings json>' '<slow codes json>' <slow seconds>``: prints
``ready`` once its workers run, and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from kernel.runtime import Runtime
from kernel.settings import Settings
from tests.failure.backbone import Probe


async def main(settings: Settings, slow: set[str], slow_seconds: float) -> None:
    probe = Probe(slow_first=slow, slow_seconds=slow_seconds)
    runtime = Runtime(probe.consumer_spec(), settings)
    await runtime.start(workers=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    try:
        await stop.wait()
    finally:
        await runtime.stop()


if __name__ == "__main__":
    asyncio.run(main(Settings(**json.loads(sys.argv[1])), set(json.loads(sys.argv[2])), float(sys.argv[3])))
