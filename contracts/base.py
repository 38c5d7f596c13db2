"""Base types for event contracts.

An event is a pydantic model with a versioned subject ``<service>.<entity>.<event>.v<N>``.
On the wire every event travels in the same envelope (CloudEvents-like): ``id`` (also the
JetStream ``Nats-Msg-Id``), ``type`` (the subject), ``source`` (the producing service),
``occurred_at``, ``request_id`` and ``data`` (the event model).  A breaking change gets a new
subject (``.v2``), published side by side with ``.v1`` until every consumer has moved.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

SUBJECT_PATTERN = re.compile(r"^(?P<service>[a-z]+)\.(?P<entity>[a-z_]+)\.(?P<event>[a-z_]+)\.v(?P<version>\d+)$")
EVENT_TYPES: dict[str, type[Event]] = {}


class Event(BaseModel):
    """Base of every event payload.  Subclasses set ``subject`` and a docstring (used in AsyncAPI)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        subject = cls.__dict__.get("subject")
        if subject is None:
            return
        if not SUBJECT_PATTERN.match(subject):
            raise ValueError(f"{cls.__name__}.subject {subject!r} is not <service>.<entity>.<event>.v<N>")
        if subject in EVENT_TYPES and EVENT_TYPES[subject] is not cls:
            raise ValueError(f"two contracts claim subject {subject!r}")
        EVENT_TYPES[subject] = cls

    @classmethod
    def service(cls) -> str:
        return cls.subject.split(".", 1)[0]

    # The field naming the entity an event is about; by default ``<entity>_id`` or ``code`` (the
    # entity is the subject's second part: ``registry.person.updated.v1`` -> ``person_id``).
    entity_field: ClassVar[str | None] = None

    def ordering(self) -> tuple[str, int] | None:
        """(entity, version) when the event carries its entity's row version, else None.

        Travels in the envelope; consumers that need order per entity (``Subscription(ordered=True)``)
        apply only versions newer than the one they applied last."""
        version = getattr(self, "version", None)
        if not isinstance(version, int):
            return None
        entity = self.subject.split(".")[1]
        for name in (self.entity_field, f"{entity}_id", "code"):
            if name and getattr(self, name, None) is not None:
                return f"{entity}:{getattr(self, name)}", version
        return None


class Envelope(BaseModel):
    """The message body of every event on JetStream."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4, description="Event id; also the Nats-Msg-Id")
    type: str = Field(description="The subject, e.g. registry.area.created.v1")
    source: str = Field(description="The producing service")
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    request_id: str | None = Field(default=None, description="The HTTP request that caused the event")
    entity: str | None = Field(default=None, description="The entity the event is about, e.g. person:<id>")
    entity_version: int | None = Field(
        default=None, description="The entity's version after the change; ordered consumers skip older ones")
    data: dict[str, Any]

    def event(self) -> Event:
        """The typed payload; raises ``KeyError`` for an unknown type, ``ValidationError`` for a bad one."""
        return EVENT_TYPES[self.type].model_validate(self.data)


BULK_PREFIX = "bulk"


def bulk_subject(subject: str) -> str:
    """Where an event written in bulk (an outbox batch row: a registry import) is published:
    ``registry.person.registered.v1`` -> ``bulk.registry.person.registered.v1``."""
    return f"{BULK_PREFIX}.{subject}"


def stream_for_subject(subject: str) -> str:
    """Each service owns two streams, named after it: ``registry.>`` lives in ``REGISTRY`` and its
    bulk events (``bulk.registry.>``) in ``REGISTRY_BULK``, so a consumer of an interactive event
    never waits behind a million imported ones."""
    first, _, rest = subject.partition(".")
    if first == BULK_PREFIX:
        return f"{rest.split('.', 1)[0].upper()}_BULK"
    return first.upper()
