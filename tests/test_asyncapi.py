"""The committed AsyncAPI document is exactly what the contracts generate, and it is coherent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

import contracts
from contracts.base import SUBJECT_PATTERN, stream_for_subject
from gramsetu import asyncapi
from gramsetu.cli import app
from kernel.settings import SERVICES


def test_committed_document_matches_the_contracts() -> None:
    committed = asyncapi.DEFAULT_OUTPUT.read_text(encoding="utf-8")
    assert committed == asyncapi.render(), "docs/asyncapi.yaml is stale: run `make asyncapi`"


def test_every_subject_is_versioned_and_owned_by_a_service() -> None:
    assert contracts.EVENT_TYPES, "no event contracts registered"
    for subject, model in contracts.EVENT_TYPES.items():
        match = SUBJECT_PATTERN.match(subject)
        assert match, f"{subject} is not <service>.<entity>.<event>.v<N>"
        assert match["service"] in SERVICES, f"{subject}: {match['service']} is not a service"
        assert int(match["version"]) >= 1
        assert stream_for_subject(subject) == match["service"].upper()
        assert model.service() == match["service"]
        assert (model.__doc__ or "").strip(), f"{model.__name__} needs a docstring for the AsyncAPI summary"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


def test_document_is_asyncapi_3_with_resolvable_references() -> None:
    doc = yaml.safe_load(asyncapi.render())
    assert doc["asyncapi"] == "3.0.0"
    assert {server["protocol"] for server in doc["servers"].values()} == {"nats"}
    for ref in _refs(doc):
        _resolve(doc, ref)
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert addresses == set(contracts.EVENT_TYPES)
    for operation in doc["operations"].values():
        assert operation["action"] == "send"
        channel = _resolve(doc, operation["channel"]["$ref"])
        producer = channel["address"].split(".", 1)[0]
        assert operation["tags"] == [{"name": producer}]
    headers = doc["components"]["schemas"]["EventHeaders"]["properties"]
    assert {"Nats-Msg-Id", "X-Request-ID"} <= set(headers)
    for message in doc["components"]["messages"].values():
        envelope, specific = message["payload"]["allOf"]
        assert envelope == {"$ref": "#/components/schemas/Envelope"}
        data_schema = _resolve(doc, specific["properties"]["data"]["$ref"])
        assert data_schema["type"] == "object"


def test_rendering_is_deterministic() -> None:
    assert asyncapi.render() == asyncapi.render()


def test_check_flag_fails_on_a_stale_file_and_passes_after_regeneration(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "asyncapi.yaml"
    target.write_text("asyncapi: 3.0.0\n")
    stale = runner.invoke(app, ["asyncapi", "--output", str(target), "--check"])
    assert stale.exit_code == 1
    assert runner.invoke(app, ["asyncapi", "--output", str(target)]).exit_code == 0
    assert target.read_text(encoding="utf-8") == asyncapi.render()
    fresh = runner.invoke(app, ["asyncapi", "--output", str(target), "--check"])
    assert fresh.exit_code == 0, fresh.output
    missing = runner.invoke(app, ["asyncapi", "--output", str(tmp_path / "nope.yaml"), "--check"])
    assert missing.exit_code == 1
