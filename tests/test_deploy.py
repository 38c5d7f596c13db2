"""Checks of deploy/: every manifest parses and agrees with the code it deploys.

* PromQL in dashboards and rules names only metrics the code registers (kernel/metrics.py,
  gateway/metrics.py, any other module using prometheus_client) and labels those metrics have.
* Every Deployment is probed on /healthz and /readyz, has resources and runs non-root on a
  read-only root fs; each component with migrations migrates in an init container.
* Settings in the ConfigMap are real Settings fields and validate; KEDA triggers name real
  durable consumers; kustomizations reference files that exist; overlays render (kubectl).
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from kernel.migrations import migrations_dir
from kernel.settings import SERVICES, Settings

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


def test_every_component_has_a_hardened_deployment() -> None:
    deployments = of_kind("Deployment")
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


def test_components_with_migrations_migrate_before_serving() -> None:
    for name, deployment in of_kind("Deployment").items():
        init = deployment["spec"]["template"]["spec"].get("initContainers", [])
        commands = [c["command"] for c in init]
        has_migrations = (migrations_dir(name) / "versions").is_dir()
        assert (["gramsetu", "migrate", name] in commands) == has_migrations, name


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_secrets_come_from_cloudnativepg_and_named_secrets() -> None:
    cluster = next(doc for _, doc in manifests(DEPLOY / "k8s" / "cloudnativepg") if doc["kind"] == "Cluster")
    db_secret = f"{cluster['metadata']['name']}-app"
    for name, deployment in of_kind("Deployment").items():
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
    fields = {f"GRAMSETU_{name.upper()}" for name in Settings.model_fields}
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


def test_every_deployment_has_one_service_one_pdb_and_one_autoscaler() -> None:
    services, pdbs = of_kind("Service"), of_kind("PodDisruptionBudget")
    hpas, scaled = of_kind("HorizontalPodAutoscaler"), of_kind("ScaledObject")
    for name, deployment in of_kind("Deployment").items():
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
        durables = {(sub.stream, sub.name) for sub in subscriptions}
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


def test_dockerfile_runs_as_the_manifests_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.12-slim\b", text, re.M)
    assert re.search(r"pip install .*\s\.\s*\\?$", text, re.M)
    user = re.findall(r"^USER (\d+)", text, re.M)
    assert user and user[-1] != "0"
    for deployment in of_kind("Deployment").values():
        assert str(deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]) == user[-1]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_overlay_renders_with_kubectl_kustomize(overlay: str) -> None:
    out = subprocess.run(["kubectl", "kustomize", str(OVERLAYS / overlay)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
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
