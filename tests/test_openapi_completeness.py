"""A partner developer can call every operation from ``/docs`` alone.

For every operation of every service and of the gateway's own API:

* a description that says more than the summary: what it does, who may call it (the scope the
  gateway asks for, or a finer permission of ``kernel/roles.py`` that opens the route, or — on
  the gateway's own routes — a role, or that no credentials are needed) and the notable refusals
  (at least one 4xx status);
* a description on every path, query and header parameter the caller sends;
* an example for every JSON request body that covers the whole body (the media type's
  ``example``/``examples`` or the body schema's own ``examples``), and each example valid:
  against the body's JSON Schema in the document and against the pydantic model the route
  parses it with (which also runs the model's validators).

Each test names every operation that falls short (``METHOD /path: what is missing``).  The
documents are built from the apps as the services serve them; no database is needed.
"""

from __future__ import annotations

import importlib
import json
import re
from functools import cache
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from gateway.openapi import HIDDEN_UPSTREAM_PATHS
from gateway.proxy import required_scope
from kernel.paths import SIGNED_PATHS, VERBATIM_PATHS, public_path
from kernel.roles import ROLES, route_permissions
from kernel.settings import SERVICES, Settings, get_settings

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
APPS = (*SERVICES, "gateway")
GATEWAY_OWNED_HEADERS = ("x-gramsetu-identity", "x-request-id")
# Who may call a gateway route that is not proxied: a role of the table, or nobody in particular.
GATEWAY_WHO = (*ROLES, "no credentials", "any client", "any operator")
REFUSAL = re.compile(r"\b4\d\d\b")
MIN_DESCRIPTION = 80


@cache
def app(name: str) -> FastAPI:
    settings = Settings(database_url="postgresql://docs@127.0.0.1:1/unused", identity_secret=get_settings().identity_secret)
    if name == "gateway":
        from gateway.app import create_app

        return create_app(settings)
    return importlib.import_module(f"services.{name}.app").create_app(settings, workers=False)  # type: ignore[no-any-return]


@cache
def document(name: str) -> dict[str, Any]:
    return app(name).openapi()


def operations(name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) for what the gateway publishes of this app."""
    out = []
    for path, item in document(name)["paths"].items():
        if path in HIDDEN_UPSTREAM_PATHS:
            continue
        for method, op in item.items():
            if method in HTTP_METHODS and "ops" not in (op.get("tags") or []):
                out.append((method.upper(), path, op))
    return out


def who_may_call(name: str, method: str, path: str) -> tuple[str, ...]:
    """Names of which one must appear in the description."""
    if name == "gateway":
        return GATEWAY_WHO
    public = public_path(name, path, VERBATIM_PATHS.get(name, []))
    template = re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(public)) + "$")
    if method == "POST" and any(template.match(p) for p in SIGNED_PATHS.get(name, ())):
        return ("Signature",)  # the gateway asks no credential: the caller signs each request itself
    # The service's admin scope passes the gateway's gate too (gateway/proxy.py).
    return (required_scope(name, method, path), *route_permissions(method, public), f"{name}:admin")


def description_gaps(name: str, method: str, path: str, op: dict[str, Any]) -> list[str]:
    description = " ".join((op.get("description") or "").split())
    summary = " ".join((op.get("summary") or "").split())
    if len(description) < MIN_DESCRIPTION or description.rstrip(".") == summary.rstrip("."):
        return [f"a description saying more than the summary ({len(description)} characters)"]
    gaps = []
    who = who_may_call(name, method, path)
    if not any(w in description for w in who):
        gaps.append(f"who may call it (name one of {', '.join(who[:4])}{'…' if len(who) > 4 else ''})")
    if not REFUSAL.search(description):
        gaps.append("its notable refusals (a 4xx status)")
    return gaps


@pytest.mark.parametrize("name", APPS)
def test_every_operation_has_a_description_that_says_who_and_what_fails(name: str) -> None:
    ops = operations(name)
    assert ops, f"{name} publishes no operation"
    missing = [f"{m} {p}: {', '.join(gaps)}" for m, p, op in ops if (gaps := description_gaps(name, m, p, op))]
    assert not missing, f"{len(missing)} of {len(ops)} {name} operations lack:\n" + "\n".join(missing)


@pytest.mark.parametrize("name", APPS)
def test_every_parameter_the_caller_sends_is_described(name: str) -> None:
    missing = []
    for method, path, op in operations(name):
        for param in op.get("parameters", []):
            where, pname = param.get("in"), str(param.get("name"))
            if where == "cookie" or (where == "header" and pname.lower().startswith(GATEWAY_OWNED_HEADERS)):
                continue
            if not (param.get("description") or param.get("schema", {}).get("description")):
                missing.append(f"{method} {path}: {where} parameter {pname!r}")
    assert not missing, f"{len(missing)} {name} parameters have no description:\n" + "\n".join(missing)


# ------------------------------------------------------------------------------------ examples
def json_body(op: dict[str, Any]) -> dict[str, Any] | None:
    return op.get("requestBody", {}).get("content", {}).get("application/json")  # type: ignore[no-any-return]


def body_schema(name: str, content: dict[str, Any]) -> dict[str, Any]:
    """The body's schema, through a ``$ref`` (an optional body is ``anyOf: [ref, null]``)."""
    schema = content.get("schema", {})
    for candidate in [schema, *schema.get("anyOf", [])]:
        if "$ref" in candidate:
            return document(name)["components"]["schemas"][candidate["$ref"].rsplit("/", 1)[1]]  # type: ignore[no-any-return]
    return schema  # type: ignore[no-any-return]


def body_examples(name: str, content: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) of each example that covers the whole body."""
    found: list[tuple[str, Any]] = []
    if "example" in content:
        found.append(("example", content["example"]))
    for key, item in (content.get("examples") or {}).items():
        if isinstance(item, dict) and "value" in item:
            found.append((f"examples[{key}]", item["value"]))
    schema = body_schema(name, content)
    found += [(f"schema examples[{i}]", value) for i, value in enumerate(schema.get("examples") or [])]
    if "example" in schema:
        found.append(("schema example", schema["example"]))
    return found


@pytest.mark.parametrize("name", APPS)
def test_every_json_body_has_an_example(name: str) -> None:
    bodies = [(m, p, content) for m, p, op in operations(name) if (content := json_body(op)) is not None]
    missing = [f"{m} {p}" for m, p, content in bodies if not body_examples(name, content)]
    assert not missing, f"{len(missing)} of {len(bodies)} {name} JSON bodies have no example:\n" + "\n".join(missing)


def routers(name: str) -> list[APIRouter]:
    if name == "gateway":
        from gateway.routes import admin, router

        return [router, admin]
    return list(importlib.import_module(f"services.{name}.routes").ROUTERS)


def body_models(name: str) -> dict[tuple[str, str], Any]:
    """(METHOD, path) → the type the route parses its JSON body into."""
    out = {}
    for router in routers(name):
        for route in router.routes:
            field = getattr(route, "body_field", None) if isinstance(route, APIRoute) else None
            if isinstance(route, APIRoute) and field is not None:
                for method in route.methods or ():
                    out[(method, route.path)] = field.field_info.annotation
    return out


@pytest.mark.parametrize("name", APPS)
def test_every_example_is_a_valid_body(name: str) -> None:
    doc = document(name)
    models = body_models(name)
    invalid, checked = [], 0
    for method, path, op in operations(name):
        content = json_body(op)
        if content is None:
            continue
        validator = Draft202012Validator({**content.get("schema", {}), "components": doc.get("components", {})})
        model = models.get((method, path))
        for label, value in body_examples(name, content):
            checked += 1
            errors = [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:160]}"
                      for e in validator.iter_errors(value)]
            if model is not None:
                try:
                    TypeAdapter(model).validate_json(json.dumps(value))
                except ValidationError as exc:
                    errors += [f"{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            if errors:
                invalid.append(f"{method} {path} {label}: " + "; ".join(errors[:3]))
    assert not invalid, f"{len(invalid)} {name} examples are not valid bodies:\n" + "\n".join(invalid)
    if name == "registry":
        assert checked >= 20, checked  # the walk saw the bodies


def test_the_walk_sees_every_service_and_knows_their_body_models() -> None:
    """The checks above cannot pass by looking at nothing."""
    for name in APPS:
        ops = operations(name)
        bodies = {(m, p) for m, p, op in ops if json_body(op) is not None}
        typed = bodies & body_models(name).keys()
        assert len(ops) >= 10 and typed, (name, len(ops), len(typed))
    assert description_gaps("registry", "GET", "/areas", {"summary": "List areas", "description": "List areas."})
    assert description_gaps("registry", "GET", "/areas", {"summary": "x", "description": "y" * 90 + " 404"})
