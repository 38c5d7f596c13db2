"""Dead-letter stream: park, list and replay events no consumer could apply.

A parked message keeps the original body and carries headers saying where it came from
(subject, stream sequence, consumer, error).  Replay re-publishes it to the original subject;
consumers that had already applied it skip it through their inbox, so a replay is safe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import Header
from nats.js.errors import NotFoundError

from kernel.bus import ADVISORY_STREAM, DLQ_STREAM

H_SUBJECT = "Gramsetu-Dlq-Subject"
H_STREAM = "Gramsetu-Dlq-Stream"
H_SEQ = "Gramsetu-Dlq-Stream-Seq"
H_CONSUMER = "Gramsetu-Dlq-Consumer"
H_SERVICE = "Gramsetu-Dlq-Service"
H_REASON = "Gramsetu-Dlq-Reason"
H_DELIVERIES = "Gramsetu-Dlq-Deliveries"
# On a replayed message: the one consumer that should apply it (every other consumer of the subject acks and skips).
H_REPLAY_FOR = "Gramsetu-Replay-For"


async def park(js: JetStreamContext, *, service: str, consumer: str, msg: Msg, reason: str) -> None:
    meta = msg.metadata
    headers = {
        Header.MSG_ID: f"dlq:{consumer}:{meta.stream}:{meta.sequence.stream}",
        H_SUBJECT: msg.subject,
        H_STREAM: meta.stream,
        H_SEQ: str(meta.sequence.stream),
        H_CONSUMER: consumer,
        H_SERVICE: service,
        H_REASON: reason.replace("\r", " ").replace("\n", " ")[:1000],
        H_DELIVERIES: str(meta.num_delivered),
    }
    await js.publish(f"dlq.{service}.{consumer}", msg.data, headers=headers)


@dataclass
class ParkedEvent:
    seq: int
    time: datetime | None
    subject: str
    stream: str
    stream_seq: int
    service: str
    consumer: str
    reason: str
    deliveries: int
    data: bytes
    source: str  # "dlq" (parked by a consumer) or "advisory" (server ran out of deliveries)

    def summary(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "source": self.source,
            "time": self.time.isoformat() if self.time else None,
            "subject": self.subject,
            "stream": self.stream,
            "stream_seq": self.stream_seq,
            "service": self.service,
            "consumer": self.consumer,
            "deliveries": self.deliveries,
            "reason": self.reason,
        }


async def _stream_last_seq(js: JetStreamContext, stream: str) -> tuple[int, int]:
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return 1, 0
    if not info.state.messages:
        return 1, 0
    return max(info.state.first_seq, 1), info.state.last_seq


async def list_parked(js: JetStreamContext, *, limit: int = 100) -> list[ParkedEvent]:
    out: list[ParkedEvent] = []
    first, last = await _stream_last_seq(js, DLQ_STREAM)
    for seq in range(first, last + 1):
        if len(out) >= limit:
            break
        try:
            raw = await js.get_msg(DLQ_STREAM, seq)
        except NotFoundError:
            continue
        h = raw.headers or {}
        out.append(
            ParkedEvent(
                seq=seq,
                time=getattr(raw, "time", None),
                subject=h.get(H_SUBJECT, ""),
                stream=h.get(H_STREAM, ""),
                stream_seq=int(h.get(H_SEQ, "0")),
                service=h.get(H_SERVICE, ""),
                consumer=h.get(H_CONSUMER, ""),
                reason=h.get(H_REASON, ""),
                deliveries=int(h.get(H_DELIVERIES, "0")),
                data=raw.data or b"",
                source="dlq",
            )
        )
    first, last = await _stream_last_seq(js, ADVISORY_STREAM)
    for seq in range(first, last + 1):
        if len(out) >= limit:
            break
        try:
            raw = await js.get_msg(ADVISORY_STREAM, seq)
        except NotFoundError:
            continue
        adv = json.loads(raw.data or b"{}")
        out.append(
            ParkedEvent(
                seq=seq,
                time=getattr(raw, "time", None),
                subject="",
                stream=adv.get("stream", ""),
                stream_seq=int(adv.get("stream_seq", 0)),
                service="",
                consumer=adv.get("consumer", ""),
                reason=adv.get("type", "advisory"),
                deliveries=int(adv.get("deliveries", 0)),
                data=b"",
                source="advisory",
            )
        )
    return out


async def dlq_size(js: JetStreamContext) -> int:
    total = 0
    for stream in (DLQ_STREAM, ADVISORY_STREAM):
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            continue
        total += info.state.messages
    return total


async def replay(js: JetStreamContext, seq: int, *, source: str = "dlq") -> str:
    """Re-publish a parked event to its original subject, addressed to the consumer that parked it
    (other consumers of the subject skip it), then remove it from the dead-letter stream.

    The consumer's inbox is kept longer than the DLQ keeps events, so a replay of an event that
    consumer had in fact applied (an advisory park after a late commit) is skipped, not applied twice.
    """
    if source == "advisory":
        raw_adv = await js.get_msg(ADVISORY_STREAM, seq)
        adv = json.loads(raw_adv.data or b"{}")
        original = await js.get_msg(adv["stream"], int(adv["stream_seq"]))
        subject, data, consumer = original.subject or "", original.data or b"", adv.get("consumer", "")
        stream_name = ADVISORY_STREAM
    else:
        raw = await js.get_msg(DLQ_STREAM, seq)
        headers = raw.headers or {}
        subject, data, consumer = headers[H_SUBJECT], raw.data or b"", headers.get(H_CONSUMER, "")
        stream_name = DLQ_STREAM
    replay_headers: dict[str, Any] = {Header.MSG_ID: f"replay:{stream_name}:{seq}"}
    if consumer:
        replay_headers[H_REPLAY_FOR] = consumer
    await js.publish(subject, data, headers=replay_headers)
    await js.delete_msg(stream_name, seq)
    return subject
