"""Checks of deploy/: every manifest parses and agrees with the code it deploys.

* PromQL in dashboards and rules names only metrics the code registers (kernel/metrics.py,
  gateway/metrics.py, any other module using prometheus_client) and labels those metrics have.
* Every Deployment is probed on /healthz and /readyz, has resources and runs non-root on a
  read-only root fs; each component with migrations migrates in an init container.
* Settings in the ConfigMap are real Settings fields and validate; KEDA triggers name real
  durable consumers; kustomizations reference files that exist; overlays render (kubectl).
"""

from __future__ import annotations

import base64
import functools
import importlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from contracts.base import bulk_subject, stream_for_subject
from kernel.migrations import migrations_dir
from kernel.settings import SERVICES, STATEMENT_POOL_USERS, Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "k8s" / "base"
OVERLAYS = DEPLOY / "k8s" / "overlays"
RULES = DEPLOY / "prometheus" / "rules" / "gramsetu.rules.yaml"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
COMPONENTS = (*SERVICES, "gateway")

# Metrics other exporters provide (Prometheus itself, kube-state-metrics).
EXTERNAL_METRICS = {
    "up",
    "kube_deployment_status_replicas_available",
    "kube_deployment_status_replicas_unavailable",
}
# Labels Prometheus Operator attaches to every scraped series, plus kube-state-metrics' own.
TARGET_LABELS = {"namespace", "pod", "job", "instance", "container", "endpoint", "deployment", "le"}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
                   "unless", "offset", "inf", "nan"}
SUFFIXES = ("_bucket", "_sum", "_count", "_created", "_total")


# ------------------------------------------------------------------ loading


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"})


def load_yaml(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def manifests(under: Path = DEPLOY / "k8s") -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(under.rglob("*.yaml")):
        if path.name == "kustomization.yaml" or path.name == "nats-values.yaml":
            continue
        for doc in load_yaml(path):
            if isinstance(doc, dict) and "kind" in doc:
                yield path, doc


def of_kind(kind: str, under: Path = BASE) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests(under) if doc["kind"] == kind}


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def app_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "app")


needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    """The overlay as the cluster would receive it (``kubectl kustomize``)."""
    out = subprocess.run(["kubectl", "kustomize", str(OVERLAYS / overlay)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def rendered_kind(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in rendered(overlay) if d["kind"] == kind}


# ------------------------------------------------------------------ metrics the code registers


def _import_metric_modules() -> None:
    """Import every module that uses prometheus_client, so its metrics are in the registry."""
    for package in ("kernel", "services", "gateway", "gramsetu", "contracts"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts or "prometheus_client" not in path.read_text():
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            importlib.import_module(module.removesuffix(".__init__"))


def registered_metrics() -> dict[str, set[str]]:
    """Every series name the code can expose (with _total/_bucket/... forms) -> its label names."""
    _import_metric_modules()
    names: dict[str, set[str]] = {}
    for name, collector in REGISTRY._names_to_collectors.items():  # no public listing exists
        if name.startswith("gramsetu_"):
            names[name] = set(getattr(collector, "_labelnames", ()))
    return names


def gateway_source_names() -> set[str]:
    text = "\n".join(p.read_text() for p in (ROOT / "gateway").rglob("*.py"))
    return set(re.findall(r"gramsetu_gateway_\w+", text))


def is_gateway_metric_in_source(name: str, source_names: set[str]) -> bool:
    candidates = {name}
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            base = name.removesuffix(suffix)
            candidates |= {base, base + "_total"}
    return bool(candidates & source_names)


# ------------------------------------------------------------------ PromQL


def _strip_promql(expr: str) -> str:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # string literals
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    return expr


def metric_names(expr: str) -> set[str]:
    """Series names in a PromQL expression (functions, keywords, labels and ranges left out)."""
    s = _strip_promql(expr)
    s = re.sub(r"\{[^{}]*\}", "", s)
    s = re.sub(r"\[[^\[\]]*\]", "", s)
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", "", s)
    found = set()
    for match in re.finditer(r"(?<![\w:.])[A-Za-z_:][\w:]*", s):
        if s[match.end():].lstrip().startswith("(") or match.group().lower() in PROMQL_KEYWORDS:
            continue
        found.add(match.group())
    return found


def label_names(expr: str) -> set[str]:
    """Label names used in matchers and in by/without/on/ignoring clauses."""
    s = _strip_promql(expr)
    labels: set[str] = set()
    for block in re.findall(r"\{([^{}]*)\}", s):
        labels |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", block))
    for clause in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)", s):
        labels |= {part.strip() for part in clause.split(",") if part.strip()}
    return labels


def dashboard_exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            elif key == "definition" and isinstance(value, str):
                yield from re.findall(r"label_values\((.*),\s*\w+\)\s*$", value)
            else:
                yield from dashboard_exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from dashboard_exprs(item)


def rule_documents() -> list[dict[str, Any]]:
    return [doc for path in sorted((DEPLOY / "prometheus").rglob("*.yaml")) for doc in load_yaml(path)
            if doc.get("kind") == "PrometheusRule"]


def rules() -> list[dict[str, Any]]:
    return [rule for doc in rule_documents() for group in doc["spec"]["groups"] for rule in group["rules"]]


def all_exprs() -> list[tuple[str, str]]:
    found = [(f"rule {r.get('record') or r.get('alert')}", r["expr"]) for r in rules()]
    for name, dash in dashboards().items():
        found += [(name, expr) for expr in dashboard_exprs(dash)]
    return found


# ================================================================== tests: parsing


def test_every_yaml_and_json_file_parses() -> None:
    files = yaml_files()
    assert len(files) > 20
    for path in files:
        assert load_yaml(path), f"{path} is empty"
    for name, dash in dashboards().items():
        assert dash["uid"] and dash["panels"], name


def test_promql_extractor_finds_names_and_labels() -> None:
    expr = ('sum by (service, le) (rate(gramsetu_http_request_duration_seconds_bucket{status=~"5..", '
            'route="/a/{code}"}[$__rate_interval])) / on (namespace) group_left up offset 5m > 0.95')
    assert metric_names(expr) == {"gramsetu_http_request_duration_seconds_bucket", "up"}
    assert label_names(expr) == {"service", "le", "status", "route", "namespace"}
    assert metric_names("histogram_quantile(0.5, x:y:rate5m) > 1e3") == {"x:y:rate5m"}


# ================================================================== tests: metrics


def test_every_promql_metric_is_registered_by_the_code() -> None:
    registered = registered_metrics()
    assert "gramsetu_http_requests_total" in registered
    recorded = {r["record"] for r in rules() if "record" in r}
    source_names = gateway_source_names()
    unknown = []
    for where, expr in all_exprs():
        for name in metric_names(expr):
            known = name in registered or name in recorded or name in EXTERNAL_METRICS
            if name.startswith("gramsetu_gateway_"):
                known = known or is_gateway_metric_in_source(name, source_names)
            if not known:
                unknown.append(f"{where}: {name}")
    assert not unknown, "PromQL names no metric the code exposes:\n" + "\n".join(unknown)


def test_every_promql_label_exists_on_some_metric() -> None:
    registered = registered_metrics()
    known = TARGET_LABELS.union(*registered.values())
    unknown = sorted({f"{where}: {label}" for where, expr in all_exprs() for label in label_names(expr)
                      if label not in known})
    assert not unknown, "PromQL uses labels no metric has:\n" + "\n".join(unknown)


def test_alerts_cover_the_required_failure_modes() -> None:
    exprs = {r["alert"]: r["expr"] for r in rules() if "alert" in r}
    text = "\n".join(exprs.values())
    for needle in ("gramsetu_http_requests_5xx", "gramsetu_http_request_duration_seconds:p95",
                   "gramsetu_outbox_oldest_event_age_seconds", "gramsetu_event_publish_failures_total",
                   "deriv(gramsetu_consumer_lag_events", "gramsetu_dlq_events", "gramsetu_scheduler_due_jobs",
                   'outcome="failed"', "kube_deployment_status_replicas_unavailable"):
        assert needle in text, f"no alert uses {needle}"
    for name, rule in ((r["alert"], r) for r in rules() if "alert" in r):
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    outbox = next(e for e in exprs.values() if "gramsetu_outbox_oldest_event_age_seconds" in e)
    assert re.search(r">\s*60\b", outbox)


def test_dashboards_are_provisioned_by_the_sidecar() -> None:
    kustomization = load_yaml(DEPLOY / "grafana" / "kustomization.yaml")[0]
    assert kustomization["generatorOptions"]["labels"] == {"grafana_dashboard": "1"}
    generated = {Path(f).name for g in kustomization["configMapGenerator"] for f in g["files"]}
    assert generated == set(dashboards())
    uids = [d["uid"] for d in dashboards().values()]
    assert len(set(uids)) == len(uids)
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "gramsetu.yaml")[0]
    assert provider["providers"][0]["type"] == "file"
    for dash in dashboards().values():
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"


# ================================================================== tests: workloads


@needs_kubectl
def test_every_component_has_a_hardened_deployment() -> None:
    deployments = rendered_kind("dev", "Deployment")
    assert set(deployments) == set(COMPONENTS)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        app = app_container(deployment)
        assert app["command"] == ["gramsetu", "serve", name, "--host", "0.0.0.0", "--port", "8080"], name
        assert app["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert app["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert app["startupProbe"]["httpGet"]["path"] == "/healthz", name
        ports = {p["name"]: p["containerPort"] for p in app["ports"]}
        assert ports == {"http": 8080}, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        for container in [*pod["containers"], *pod.get("initContainers", [])]:
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), (name, container["name"])
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert security["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert security["capabilities"]["drop"] == ["ALL"], (name, container["name"])


# The registry's batch matching at 1,000,000 persons: peak resident memory measured by
# `python -m bench matcher` (docs/matching.md, matcher.batch_peak_memory_mb), in MiB.
MATCH_BATCH_PEAK_MIB = 2969


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    for unit, factor in sorted(units.items(), key=lambda u: -len(u[0])):
        if quantity.endswith(unit):
            return float(quantity[: -len(unit)]) * factor
    return float(quantity) / 2**20


@needs_kubectl
@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_registry_batch_matching_runs_as_a_cronjob_with_the_registry_pods_settings(overlay: str) -> None:
    """`gramsetu registry match-registry` runs as its own CronJob: the registry pod's image, config,
    secrets and hardening (copied from the rendered Deployment, not written twice), one run at a time,
    and memory sized from the measured 1M peak, which the services' pod limit could not hold."""
    jobs = rendered_kind(overlay, "CronJob")
    assert set(jobs) == {"registry-match"}
    job = jobs["registry-match"]
    registry = rendered_kind(overlay, "Deployment")["registry"]
    pod, served = job["spec"]["jobTemplate"]["spec"]["template"], registry["spec"]["template"]["spec"]
    app, registry_app = pod["spec"]["containers"][0], app_container(registry)
    assert app["command"] == ["gramsetu", "registry", "match-registry"]
    assert job["spec"]["concurrencyPolicy"] == "Forbid" and pod["spec"]["restartPolicy"] == "Never"
    for key in ("image", "env", "envFrom", "securityContext", "volumeMounts"):
        assert app[key] == registry_app[key], key
    for key in ("serviceAccountName", "automountServiceAccountToken", "securityContext", "volumes"):
        assert pod["spec"][key] == served[key], key
    ref = app["envFrom"][0]["configMapRef"]["name"]
    assert ref.startswith("gramsetu-config-") and ref in rendered_kind(overlay, "ConfigMap")
    memory = {kind: _mebibytes(app["resources"][kind]["memory"]) for kind in ("requests", "limits")}
    assert memory["requests"] >= 1.2 * MATCH_BATCH_PEAK_MIB, "request below the measured peak + 20%"
    assert memory["limits"] <= 4096, "the issue's goal is 4 GB at 1,000,000 records"
    assert memory["limits"] > _mebibytes(registry_app["resources"]["limits"]["memory"])
    assert {"cpu", "memory"} <= set(app["resources"]["requests"]) and "cpu" in app["resources"]["limits"]
    # The registry's Service, PDB and autoscaler select `registry` pods only; the job pod is not one.
    labels = pod["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == "gramsetu"  # the default-deny and egress policies hold it
    for kind in ("Service", "PodDisruptionBudget"):
        spec = rendered_kind(overlay, kind)["registry"]["spec"]
        selector = spec.get("selector", {})
        selector = selector.get("matchLabels", selector)
        assert not selector.items() <= labels.items(), f"the registry's {kind} would select the job's pod"
    assert labels.get("app.kubernetes.io/component") != "service", "the gateway's ingress would admit it"


@needs_kubectl
def test_components_with_migrations_migrate_before_serving() -> None:
    for name, deployment in rendered_kind("dev", "Deployment").items():
        init = deployment["spec"]["template"]["spec"].get("initContainers", [])
        commands = [c["command"] for c in init]
        has_migrations = (migrations_dir(name) / "versions").is_dir()
        assert (["gramsetu", "migrate", name] in commands) == has_migrations, name


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


@needs_kubectl
def test_secrets_come_from_cloudnativepg_and_named_secrets() -> None:
    cluster = next(doc for _, doc in manifests(DEPLOY / "k8s" / "cloudnativepg") if doc["kind"] == "Cluster")
    db_secret = f"{cluster['metadata']['name']}-app"
    for name, deployment in rendered_kind("prod", "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        for container in [*pod["containers"], *pod.get("initContainers", [])]:
            env = _env(container)
            ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (db_secret, "uri"), name
            for var in env.values():
                assert "value" not in var or "SECRET" not in var["name"], f"{name}: literal secret {var['name']}"
        env = _env(app_container(deployment))
        assert "secretKeyRef" in env["NATS_URL"]["valueFrom"], name
        assert "secretKeyRef" in env["GRAMSETU_IDENTITY_SECRET"]["valueFrom"], name


def _config_literals(kustomization: Path) -> dict[str, str]:
    doc = load_yaml(kustomization)[0]
    gen = next(g for g in doc.get("configMapGenerator", []) if g["name"] == "gramsetu-config")
    return dict(item.split("=", 1) for item in gen["literals"])


def test_configmap_settings_are_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.config import GatewayConfig

    fields = {f"GRAMSETU_{name.upper()}" for name in Settings.model_fields}
    fields |= {f"GRAMSETU_GATEWAY_{name.upper()}" for name in GatewayConfig.model_fields}
    for kustomization in [BASE / "kustomization.yaml", *sorted(OVERLAYS.glob("*/kustomization.yaml"))]:
        literals = _config_literals(kustomization)
        assert set(literals) <= fields, f"{kustomization}: unknown settings {set(literals) - fields}"
    literals = _config_literals(BASE / "kustomization.yaml") | _config_literals(OVERLAYS / "prod" / "kustomization.yaml")
    for key, value in literals.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.stream_replicas == 3
    assert settings.is_production
    assert {s: settings.service_url(s) for s in SERVICES} == {s: f"http://{s}:8080" for s in SERVICES}


@needs_kubectl
def test_every_deployment_has_one_service_one_pdb_and_one_autoscaler() -> None:
    services, pdbs = rendered_kind("dev", "Service"), rendered_kind("dev", "PodDisruptionBudget")
    hpas, scaled = rendered_kind("dev", "HorizontalPodAutoscaler"), rendered_kind("dev", "ScaledObject")
    for name, deployment in rendered_kind("dev", "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert services[name]["spec"]["selector"].items() <= labels.items(), name
        assert [p["name"] for p in services[name]["spec"]["ports"]] == ["http"], name
        assert pdbs[name]["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        targets = [h for h in hpas.values() if h["spec"]["scaleTargetRef"]["name"] == name]
        targets += [s for s in scaled.values() if s["spec"]["scaleTargetRef"]["name"] == name]
        # Two autoscalers on one Deployment fight (KEDA creates its own HPA).
        assert len(targets) == 1, f"{name} has {len(targets)} autoscalers"
    assert all(h["apiVersion"] == "autoscaling/v2" for h in hpas.values())


def test_keda_triggers_follow_real_durable_consumers() -> None:
    scaled = of_kind("ScaledObject")
    for name in SERVICES:
        # By convention a service declares what it consumes in services/<name>/events.py.
        if not (ROOT / "services" / name / "events.py").exists():
            continue
        subscriptions = importlib.import_module(f"services.{name}.events").SUBSCRIPTIONS
        # Each durable reads two lanes: its stream and the bulk stream of the same subjects (kernel/bus.py).
        durables = {(stream, sub.name) for sub in subscriptions
                    for stream in (sub.stream, stream_for_subject(bulk_subject(sub.subject)))}
        if not durables:
            continue
        assert name in scaled, f"{name} consumes events but has no ScaledObject"
        triggers = [t["metadata"] for t in scaled[name]["spec"]["triggers"] if t["type"] == "nats-jetstream"]
        assert triggers, name
        for trigger in triggers:
            assert (trigger["stream"], trigger["consumer"]) in durables, f"{name}: no durable {trigger}"
        assert scaled[name]["spec"]["minReplicaCount"] >= 1, "the same pods serve HTTP"


def test_servicemonitor_keeps_our_service_label() -> None:
    monitors = of_kind("ServiceMonitor")
    assert monitors
    for monitor in monitors.values():
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
            assert endpoint["honorLabels"] is True


# ================================================================== tests: kustomize, overlays, infra


def test_kustomizations_reference_existing_files() -> None:
    for kustomization in sorted(DEPLOY.rglob("kustomization.yaml")):
        doc = load_yaml(kustomization)[0]
        here = kustomization.parent
        for resource in doc.get("resources", []):
            target = here / resource
            assert target.is_file() or (target / "kustomization.yaml").is_file(), f"{kustomization}: {resource}"
        for generator in doc.get("configMapGenerator", []):
            for entry in generator.get("files", []):
                assert (here / entry.split("=")[-1]).is_file(), f"{kustomization}: {entry}"
        for patch in doc.get("patches", []):
            assert "patch" in patch or (here / patch["path"]).is_file(), f"{kustomization}: {patch}"


def test_prod_overlay_runs_three_of_everything() -> None:
    doc = load_yaml(OVERLAYS / "prod" / "kustomization.yaml")[0]
    assert {r["name"]: r["count"] for r in doc["replicas"]} == dict.fromkeys(COMPONENTS, 3)
    assert _config_literals(OVERLAYS / "prod" / "kustomization.yaml")["GRAMSETU_STREAM_REPLICAS"] == "3"
    assert doc["images"][0]["newTag"] != "latest"


def test_nats_values_cluster_and_fsync() -> None:
    values = load_yaml(DEPLOY / "k8s" / "nats-values.yaml")[0]["config"]
    assert values["cluster"] == {"enabled": True, "replicas": 3}
    jetstream = values["jetstream"]
    assert jetstream["fileStore"]["enabled"] and jetstream["fileStore"]["pvc"]["enabled"]
    assert jetstream["merge"]["sync_interval"] == "always"
    assert "7564" in (DEPLOY / "k8s" / "nats-values.yaml").read_text()


def test_cloudnativepg_cluster() -> None:
    cluster = next(doc for _, doc in manifests(DEPLOY / "k8s" / "cloudnativepg") if doc["kind"] == "Cluster")
    assert cluster["spec"]["instances"] == 3
    assert cluster["spec"]["switchoverDelay"] < 3600


@needs_kubectl
def test_dockerfile_runs_as_the_manifests_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.12-slim\b", text, re.M)
    assert re.search(r"pip install .*\s\.\s*\\?$", text, re.M)
    user = re.findall(r"^USER (\d+)", text, re.M)
    assert user and user[-1] != "0"
    for deployment in rendered_kind("dev", "Deployment").values():
        assert str(deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]) == user[-1]


@needs_kubectl
@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_overlay_renders_with_kubectl_kustomize(overlay: str) -> None:
    docs = rendered(overlay)
    configmaps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    assert len(namespaces) == 1
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        app = app_container(deployment)
        ref = app["envFrom"][0]["configMapRef"]["name"]
        assert ref.startswith("gramsetu-config-") and ref in configmaps  # hashed name rewritten
        assert ":" in app["image"]
        if overlay == "prod":
            assert deployment["spec"]["replicas"] == 3
            assert configmaps[ref]["data"]["GRAMSETU_STREAM_REPLICAS"] == "3"


# ================================================================== tests: secrets, connections, network, schemas

NON_DEV_OVERLAYS = ("staging", "prod")
SETTINGS_CHECK = """
import importlib, sys
name = sys.argv[1]
module = importlib.import_module("gateway.app" if name == "gateway" else f"services.{name}.app")
try:
    module.create_app()
except Exception as exc:  # the refusal is the finding: report it on one line
    print(f"{name}: {type(exc).__name__}: {exc}")
    sys.exit(1)
"""


def _secret_value() -> str:
    """A strong value every secret setting accepts: 32 random bytes in base64 that is also
    url-safe base64 (a Fernet key, an Ed25519 seed, an HMAC key, a passphrase)."""
    while True:
        value = base64.b64encode(secrets.token_bytes(32)).decode()
        if "+" not in value and "/" not in value:
            return value


def _placeholder(name: str) -> str:
    if name == "DATABASE_URL":
        return "postgresql://gramsetu:password@gramsetu-db-rw:5432/gramsetu"
    if name == "NATS_URL":
        return "nats://nats.nats.svc.cluster.local:4222"
    return _secret_value()


def manifest_environment(overlay: str, deployment: dict[str, Any]) -> dict[str, str]:
    """Exactly the variables the app container receives: the ConfigMap it names plus its env,
    each Secret reference filled with a strong placeholder value."""
    app = app_container(deployment)
    configmaps = rendered_kind(overlay, "ConfigMap")
    env: dict[str, str] = {}
    for source in app.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for var in app.get("env", []):
        env[var["name"]] = var["value"] if "value" in var else _placeholder(var["name"])
    return env


def start_refusals(environments: dict[str, dict[str, str]]) -> dict[str, str]:
    """Build each component's app in a clean process with only the given variables; return the
    components that refused to start, with their one-line reason."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("GRAMSETU_") and k not in {"DATABASE_URL", "NATS_URL"}}
    base["PYTHONPATH"] = str(ROOT)
    procs = {
        name: subprocess.Popen([sys.executable, "-c", SETTINGS_CHECK, name], env={**base, **env},
                               cwd=tempfile.gettempdir(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
        for name, env in environments.items()
    }
    refusals = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            refusals[name] = out.strip().splitlines()[-1] if out.strip() else f"exit {proc.returncode}"
    return refusals


@needs_kubectl
@pytest.mark.parametrize("overlay", NON_DEV_OVERLAYS)
def test_every_setting_refused_by_default_is_supplied_by_the_overlay(overlay: str) -> None:
    """Each component starts with exactly the variables its Deployment gives it in this overlay:
    a secret the code refuses to default outside development that no Secret supplies fails here."""
    deployments = rendered_kind(overlay, "Deployment")
    environments = {name: manifest_environment(overlay, d) for name, d in deployments.items()}
    for name, env in environments.items():
        assert env["GRAMSETU_ENVIRONMENT"] not in {"", "development"}, name
    assert start_refusals(environments) == {}


@needs_kubectl
def test_a_missing_secret_is_caught_by_that_check() -> None:
    deployments = rendered_kind("prod", "Deployment")
    registry = manifest_environment("prod", deployments["registry"])
    gateway = manifest_environment("prod", deployments["gateway"])
    del registry["GRAMSETU_REGISTRY_ID_HMAC_KEY"]
    del gateway["GRAMSETU_GATEWAY_KEY_PASSPHRASE"]
    refusals = start_refusals({"registry": registry, "gateway": gateway})
    assert "GRAMSETU_REGISTRY_ID_HMAC_KEY" in refusals["registry"]
    assert "GRAMSETU_GATEWAY_KEY_PASSPHRASE" in refusals["gateway"]


def _max_replicas(overlay: str, name: str) -> int:
    for hpa in rendered_kind(overlay, "HorizontalPodAutoscaler").values():
        if hpa["spec"]["scaleTargetRef"]["name"] == name:
            return int(hpa["spec"]["maxReplicas"])
    for scaled in rendered_kind(overlay, "ScaledObject").values():
        if scaled["spec"]["scaleTargetRef"]["name"] == name:
            return int(scaled["spec"]["maxReplicaCount"])
    return int(rendered_kind(overlay, "Deployment")[name]["spec"]["replicas"])


OPERATOR_CONNECTIONS = 10  # gramsetu CLI sessions, migrations run by hand, psql
SUPERUSER_RESERVED = 3  # PostgreSQL's superuser_reserved_connections default


@needs_kubectl
@pytest.mark.parametrize("overlay", ["dev", *NON_DEV_OVERLAYS])
def test_connection_budget_fits_max_connections_at_maximum_replicas(overlay: str) -> None:
    cluster = next(iter(rendered_kind(overlay, "Cluster").values()))
    max_connections = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    needed = 0
    for name, deployment in rendered_kind(overlay, "Deployment").items():
        env = manifest_environment(overlay, deployment)
        settings = Settings(_env_file=None, **{  # type: ignore[call-arg]
            key.removeprefix("GRAMSETU_").lower(): value for key, value in env.items()
            if key.removeprefix("GRAMSETU_").lower() in {"db_pool_size", "db_max_overflow", "worker_pool_size",
                                                         "statement_pool_size"}})
        surge = int(deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"])
        needed += settings.connections_per_pod(name) * (_max_replicas(overlay, name) + surge)
    available = max_connections - SUPERUSER_RESERVED - OPERATOR_CONNECTIONS
    assert needed * 1.2 <= available, f"{overlay}: pods may open {needed} connections; max_connections allows {available}"


def test_statement_pool_users_are_the_services_that_open_it() -> None:
    users = {name for name in SERVICES
             if any("statement_pool()" in p.read_text() for p in (ROOT / "services" / name).rglob("*.py"))}
    assert users == set(STATEMENT_POOL_USERS)


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


@needs_kubectl
def test_network_policies_let_in_only_the_gateway_and_let_out_only_postgres_and_nats() -> None:
    policies = list(rendered_kind("prod", "NetworkPolicy").values())
    for name, deployment in rendered_kind("prod", "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        mine = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
        deny = [p for p in mine if not p["spec"].get("ingress") and not p["spec"].get("egress")]
        assert deny and {"Ingress", "Egress"} <= set(deny[0]["spec"]["policyTypes"]), f"{name}: no default deny"
        for policy in mine:
            for rule in policy["spec"].get("ingress", []):
                if name == "gateway" and "from" not in rule:
                    continue  # the one door in
                assert rule.get("from"), f"{name}: {policy['metadata']['name']} lets anyone in"
                for peer in rule["from"]:
                    from_gateway = peer.get("podSelector", {}).get("matchLabels") == {"app.kubernetes.io/name": "gateway"}
                    from_monitoring = peer.get("namespaceSelector", {}).get("matchLabels") == {
                        "kubernetes.io/metadata.name": "monitoring"}
                    assert from_gateway or from_monitoring, f"{name}: {policy['metadata']['name']} admits {peer}"
            for rule in policy["spec"].get("egress", []):
                assert rule.get("to"), f"{name}: {policy['metadata']['name']} lets it reach anything"
                ports = {p["port"] for p in rule.get("ports", [])}
                external = any("ipBlock" in peer for peer in rule["to"])
                if external:
                    assert labels.get("gramsetu.io/external-egress") == "true" and ports == {443}, name
                else:
                    assert ports <= {53, 5432, 4222, 8080}, f"{name}: egress to ports {ports}"
                    if 8080 in ports:
                        assert name == "gateway", f"{name} may reach other services directly"


# Custom resources of the operators we deploy with; their CRDs are not in the Kubernetes schemas.
CUSTOM_KINDS = {"Cluster", "ScaledObject", "ServiceMonitor", "PodMonitor", "PrometheusRule"}
KUBERNETES_VERSION = "1.30.0"


@pytest.mark.parametrize("overlay", ["dev", *NON_DEV_OVERLAYS])
@needs_kubectl
def test_rendered_manifests_validate_against_the_kubernetes_schemas(overlay: str) -> None:
    """Offline, strict (unknown fields refused), with the schemas the kubernetes-validate package ships."""
    import kubernetes_validate

    checked, errors = 0, []
    for doc in rendered(overlay):
        if doc["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            checked += 1
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert not errors, "\n".join(errors)
    assert checked >= 30


@needs_kubectl
@pytest.mark.parametrize("overlay", ["dev", *NON_DEV_OVERLAYS])
def test_consumer_max_replicas_matches_the_autoscalers(overlay: str) -> None:
    """max_ack_pending is sized from GRAMSETU_CONSUMER_MAX_REPLICAS: it must be the most replicas
    an autoscaler may start for a service that consumes events."""
    deployments = rendered_kind(overlay, "Deployment")
    most = max(_max_replicas(overlay, name) for name in SERVICES if name in deployments)
    for name in SERVICES:
        env = manifest_environment(overlay, deployments[name])
        assert int(env["GRAMSETU_CONSUMER_MAX_REPLICAS"]) == most, (overlay, name)
