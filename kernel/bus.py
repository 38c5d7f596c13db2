"""NATS connection and the JetStream streams GramSetu declares in code.

Streams (one per service, plus the dead-letter streams):

* ``<SERVICE>`` holds ``<service>.>``.  Retention is *limits* (by age), not work-queue, so a
  new consumer (a new service, a rebuilt read model) can replay history and several
  services can consume the same subject independently.
* ``duplicate_window`` (default 10 min) must be at least the relay's retry horizon: if the
  relay published a batch but crashed before deleting the rows, it re-publishes the same
  event ids later, and JetStream drops them only while the ids are inside the window.
* ``num_replicas`` is 1 for the embedded/dev server and should be 3 in production (R3
  survives the loss of one node).  Durability of an acknowledged write also depends on the
  *server's* ``sync_interval``: the default fsyncs every 2 minutes, so for PII and money
  streams set ``jetstream { sync_interval: always }`` in the server config
  (deploy/k8s/nats-values.yaml) and accept the ~8x lower publish rate.
"""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from kernel.settings import SERVICES, Settings

log = logging.getLogger("gramsetu.bus")

DLQ_STREAM = "DLQ"
ADVISORY_STREAM = "DLQ_ADVISORIES"
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"
TERMINATED_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>"
DAY = 86400


def stream_configs(settings: Settings) -> list[StreamConfig]:
    configs = [
        StreamConfig(
            name=service.upper(),
            subjects=[f"{service}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=settings.stream_max_age_days * DAY,
            duplicate_window=settings.stream_duplicate_window_seconds,
            num_replicas=settings.stream_replicas,
            description=f"Events published by the {service} service",
        )
        for service in SERVICES
    ]
    configs.append(
        StreamConfig(
            name=DLQ_STREAM,
            subjects=["dlq.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=90 * DAY,
            duplicate_window=settings.stream_duplicate_window_seconds,
            num_replicas=settings.stream_replicas,
            description="Events a consumer could not apply, parked with the error for inspection and replay",
        )
    )
    configs.append(
        StreamConfig(
            name=ADVISORY_STREAM,
            subjects=[MAX_DELIVERIES_ADVISORY, TERMINATED_ADVISORY],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=90 * DAY,
            num_replicas=settings.stream_replicas,
            description="Server advisories for messages that ran out of deliveries (e.g. a consumer crashed on them)",
        )
    )
    return configs


async def ensure_streams(js: JetStreamContext, settings: Settings) -> None:
    for config in stream_configs(settings):
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            continue
        try:
            await js.update_stream(config)
        except BadRequestError as exc:  # e.g. replicas cannot change on a single server
            log.warning("stream %s kept its existing config: %s", config.name, exc)


async def connect(url: str, *, name: str, attempts: int | None = None) -> NATS:
    """Connect, retrying the first connection too (nats-py only retries after a first success)."""
    delay = 0.2
    tried = 0
    while True:
        tried += 1
        try:
            return await nats.connect(
                url,
                name=name,
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
            )
        except Exception as exc:
            if attempts is not None and tried >= attempts:
                raise
            log.warning("NATS not reachable at %s (%s); retrying", url, type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
