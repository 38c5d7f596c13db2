"""The AsyncAPI 3.0 document of every event, generated from ``contracts.EVENT_TYPES``.

Channels are the NATS subjects; each message is the common :class:`~contracts.base.Envelope`
whose ``data`` is the contract's payload schema; each operation is the producing service
sending it.  The output is deterministic (sorted), so ``docs/asyncapi.yaml`` can be committed
and checked against the code (``gramsetu asyncapi --check``, ``tests/test_asyncapi.py``).
"""

from __future__ import annotations

import inspect
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

import contracts
from contracts.base import Envelope, Event

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.yaml"
SCHEMA_REF = "#/components/schemas/{model}"

_HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "NATS message headers of every event.",
    "properties": {
        "Nats-Msg-Id": {
            "type": "string",
            "format": "uuid",
            "description": (
                "The envelope id. JetStream drops a second publish with the same id inside the stream's "
                "duplicate window, so the outbox relay can retry safely; consumers also record it in "
                "their inbox to apply each event once."
            ),
        },
        "X-Request-ID": {
            "type": "string",
            "description": "The HTTP request that caused the event (absent for events raised by jobs).",
        },
    },
    "required": ["Nats-Msg-Id"],
}


def _version() -> str:
    try:
        return metadata.version("gramsetu")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _camel(subject: str) -> str:
    """``registry.area.created.v1`` -> ``registryAreaCreatedV1`` (a valid component key)."""
    parts = subject.replace("_", ".").split(".")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _model_schema(model: type[Event] | type[Envelope], schemas: dict[str, Any]) -> None:
    """Add ``model`` and its nested models to ``schemas``; a name clash between two models fails."""
    schema = model.model_json_schema(ref_template=SCHEMA_REF)
    nested = schema.pop("$defs", {})
    for name, body in [*nested.items(), (model.__name__, schema)]:
        if name in schemas and schemas[name] != body:
            raise ValueError(f"two event schemas are named {name!r}; rename one of the models")
        schemas[name] = body


def _describe(model: type[Event]) -> str:
    return inspect.cleandoc(model.__doc__ or "").replace("\n", " ")


def _message(subject: str, model: type[Event]) -> dict[str, Any]:
    ref = {"$ref": SCHEMA_REF.format(model=model.__name__)}
    return {
        "name": model.__name__,
        "title": subject,
        "summary": _describe(model),
        "contentType": "application/json",
        "correlationId": {"location": "$message.header#/X-Request-ID"},
        "headers": {"$ref": SCHEMA_REF.format(model="EventHeaders")},
        "payload": {
            "allOf": [
                {"$ref": SCHEMA_REF.format(model="Envelope")},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": subject},
                        "source": {"const": model.service()},
                        "data": ref,
                    },
                },
            ]
        },
    }


def build_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    _model_schema(Envelope, schemas)
    schemas["EventHeaders"] = _HEADERS_SCHEMA
    for subject in sorted(contracts.EVENT_TYPES):
        model = contracts.EVENT_TYPES[subject]
        key = _camel(subject)
        _model_schema(model, schemas)
        messages[key] = _message(subject, model)
        channels[key] = {
            "address": subject,
            "description": _describe(model),
            "messages": {model.__name__: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[f"send{key[:1].upper()}{key[1:]}"] = {
            "action": "send",
            "title": f"{model.service()} publishes {subject}",
            "description": (
                f"Published by the {model.service()} service through its transactional outbox to the "
                f"{model.service().upper()} stream."
            ),
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{model.__name__}"}],
            "tags": [{"name": model.service()}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "GramSetu events",
            "version": _version(),
            "description": (
                "Events GramSetu services publish on NATS JetStream. Delivery is at-least-once: every "
                "message carries a Nats-Msg-Id (the envelope id) and consumers apply each id once. "
                "A breaking change gets a new subject (.v2) published beside the old one. Events written "
                "in bulk (a registry import) are published with the same envelope at `bulk.<subject>`, "
                "in the service's bulk stream `<SERVICE>_BULK`; kernel consumers read both. Generated "
                "from the contracts package by `gramsetu asyncapi`; do not edit by hand."
            ),
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "development": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "Local nats-server with JetStream (`gramsetu up` starts an embedded one).",
            },
            "production": {
                "host": "nats.gramsetu.svc.cluster.local:4222",
                "protocol": "nats",
                "description": "NATS JetStream cluster (3 nodes, R3 streams) inside the Kubernetes cluster.",
            },
        },
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {
            "messages": dict(sorted(messages.items())),
            "schemas": dict(sorted(schemas.items())),
        },
    }


def render() -> str:
    return yaml.safe_dump(build_document(), sort_keys=False, allow_unicode=True, width=110)


def write(path: Path = DEFAULT_OUTPUT) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")


def differs(path: Path = DEFAULT_OUTPUT) -> bool:
    """True when ``path`` is missing or not what the contracts generate."""
    return not path.exists() or path.read_text(encoding="utf-8") != render()
