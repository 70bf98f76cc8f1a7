"""The contracts every rendered deployment keeps, as checks the per-target tests share.

Contracts: probes on /startupz, /livez, /readyz; restricted security context with the image's
UID/GID 10001; a grace period covering preStop + graceful shutdown; migrations before rollout;
no secret values anywhere; the database connection budget. Kubernetes manifests (from Kustomize
or Helm) are checked as parsed documents by k8s_checks.py's `check_api_workload`, which calls
these.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from rendering import BIN, ROOT, Rendered

KNATIVE_SCHEMA = ROOT / "tests" / "schemas" / "knative-service_v1.json"
IMAGE_UID = 10001
PROBES = {"startupProbe": "/startupz", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|DATABASE_URL|CREDENTIAL|PRIVATE", re.IGNORECASE)
DEFAULT_CONNECTION_HEADROOM = 10  # kernel/settings/database.py: db_connection_headroom
# kernel/settings/: the defaults a deploy file may leave out, and what a shutdown keeps.
DEFAULT_SHUTDOWN_DRAIN_SECONDS = 1.0
SHUTDOWN_CLOSE_SECONDS = 2
# Seconds between the process's own shutdown budget and SIGKILL: the runtime's signal delivery,
# a slow exit. Gunicorn's graceful_timeout is the budget itself.
SHUTDOWN_MARGIN_SECONDS = 2
# A busy event loop answers late, not never: each liveness try waits this long, and the
# container is restarted only after this long without an answer.
LIVENESS_MIN_TIMEOUT_SECONDS = 5
LIVENESS_MIN_WINDOW_SECONDS = 30
# Never through a public Ingress: the probes, /metrics and the API document.
PRIVATE_PATHS = ("/livez", "/readyz", "/startupz", "/metrics", "/docs", "/openapi.json")


# --- documents, containers and their settings ---------------------------------------------------


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str, component: str | None = None) -> dict[str, Any]:
    found = [
        doc
        for doc in by_kind(docs, kind)
        if component is None
        or doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {kind} ({component}), found {len(found)}"
    return found[0]


def env_values(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}


def secret_refs(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def secret_settings(ctx: dict[str, Any]) -> set[str]:
    """The settings the API reads from secrets: the signing key, the database, broker and Redis
    URLs, the Sentry DSN, the API keys' pepper."""
    names = ["SECRET_KEY"]
    names += ["DATABASE_URL"] if ctx["has_database"] else []
    names += ["BROKER_URL"] if ctx["has_queue"] else []
    names += ["SENTRY_DSN"] if ctx["sentry"] else []
    names += ["REDIS_URL"] if ctx["has_redis_client"] else []
    names += ["API_KEY_PEPPER"] if ctx["has_api_keys"] else []
    return {f"{ctx['env_prefix']}{name}" for name in names}


def validate_k8s(project: Rendered, manifests: str, name: str) -> None:
    """kubernetes-validate --strict on rendered manifests (written next to the render)."""
    target = project.path.parent / f"{project.path.name}-{name}.yaml"
    target.write_text(manifests)
    result = project.run(
        BIN / "kubernetes-validate", "--strict", "--quiet", target, check=False, about=None
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, project.explain(None, f"{name}:\n{output}\n{manifests}")


# --- probes, shutdown, public paths -------------------------------------------------------------


def check_liveness(probe: dict[str, Any]) -> None:
    """Liveness restarts a dead process, not a busy one: each try waits, and several fail first."""
    timeout = probe.get("timeoutSeconds", 1)
    window = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
    assert timeout >= LIVENESS_MIN_TIMEOUT_SECONDS, f"liveness timeoutSeconds {timeout}"
    assert window >= LIVENESS_MIN_WINDOW_SECONDS, f"liveness gives up after {window} s"
    assert probe["httpGet"]["path"] == "/livez", probe


def check_compose_healthcheck(healthcheck: dict[str, Any]) -> None:
    """A compose healthcheck gives a busy event loop the room liveness probes give it."""

    def seconds(value: str) -> float:
        return float(value.removesuffix("s"))

    timeout = seconds(healthcheck["timeout"])
    window = seconds(healthcheck["interval"]) * healthcheck["retries"]
    assert timeout >= LIVENESS_MIN_TIMEOUT_SECONDS, f"healthcheck timeout {timeout}"
    assert window >= LIVENESS_MIN_WINDOW_SECONDS, f"healthcheck gives up after {window} s"


def check_shutdown_budget(
    settings: dict[str, Any], prefix: str, grace_seconds: float, pre_stop: float = 0
) -> None:
    """preStop + the process's shutdown budget + a margin fit in the platform's grace period, and
    the budget leaves time for in-flight requests after the drain (settings' own check)."""
    graceful = int(settings[f"{prefix}GRACEFUL_SHUTDOWN_SECONDS"])
    drain = float(settings.get(f"{prefix}SHUTDOWN_DRAIN_SECONDS", DEFAULT_SHUTDOWN_DRAIN_SECONDS))
    assert graceful - drain - SHUTDOWN_CLOSE_SECONDS >= 1, (graceful, drain)
    needed = pre_stop + graceful + SHUTDOWN_MARGIN_SECONDS
    assert grace_seconds >= needed, (
        f"grace period {grace_seconds} s < preStop {pre_stop} s + GRACEFUL_SHUTDOWN_SECONDS"
        f" {graceful} s + {SHUTDOWN_MARGIN_SECONDS} s"
    )
    # One worker per container: uvicorn then never recycles (MAX_REQUESTS would end it).
    assert str(settings.get("WEB_CONCURRENCY")) == "1", settings.get("WEB_CONCURRENCY")


def check_public_paths(paths: list[str]) -> None:
    """A public Ingress routes API prefixes only: none reaches a probe, /metrics or the docs."""
    assert paths, "an Ingress without paths"
    for private in PRIVATE_PATHS:
        reached = [p for p in paths if p in {"/", private} or private.startswith(p + "/")]
        assert not reached, f"{private} is public through {reached}"


def ingress_paths(ingress: dict[str, Any]) -> list[str]:
    return [
        path["path"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
        if path.get("pathType", "Prefix") in {"Prefix", "ImplementationSpecific", "Exact"}
    ]


# --- the database connection budget -------------------------------------------------------------


# The settings the connection budget is computed from (prefixed but WEB_CONCURRENCY).
BUDGET_SETTINGS = (
    "MAX_REPLICAS",
    "MAX_SURGE",
    "MAX_WORKER_REPLICAS",
    "MAX_WORKER_SURGE",
    "WORKER_CONCURRENCY",
    "DB_POOL_SIZE",
    "DB_MAX_OVERFLOW",
    "DB_MAX_CONNECTIONS",
)


def budget_of(env: dict[str, Any], prefix: str) -> dict[str, str]:
    """The connection budget's inputs among `env`'s settings."""
    names = {f"{prefix}{name}" for name in BUDGET_SETTINGS} | {"WEB_CONCURRENCY"}
    return {name: str(value) for name, value in env.items() if name in names}


def surge_of(deployment: dict[str, Any], replicas: int) -> int:
    """The pods a rolling update adds beside `replicas`: maxSurge, a count or a percentage
    (which Kubernetes rounds up), 25% when unset."""
    strategy = deployment["spec"].get("strategy", {})
    if strategy.get("type") == "Recreate":
        return 0
    surge = strategy.get("rollingUpdate", {}).get("maxSurge", "25%")
    if isinstance(surge, str) and surge.endswith("%"):
        return -(-replicas * int(surge[:-1]) // 100)
    return int(surge)


def check_connection_budget(
    settings: dict[str, str],
    ctx: dict[str, Any],
    max_replicas: int,
    worker_replicas: int | None,
    *,
    surge: int,
    worker_surge: int | None,
) -> None:
    """The budget's replica counts and rollout surges are the deployment's, and its connections
    fit the database: every API process's pool and overflow, plus one connection per job the
    workers run, with the extra pods or instances a rollout runs beside them."""
    prefix = ctx["env_prefix"]
    assert int(settings[f"{prefix}MAX_REPLICAS"]) == max_replicas
    assert int(settings[f"{prefix}MAX_SURGE"]) == surge, "MAX_SURGE is the rollout's surge"
    per_worker = int(settings[f"{prefix}DB_POOL_SIZE"]) + int(settings[f"{prefix}DB_MAX_OVERFLOW"])
    needed = (max_replicas + surge) * int(settings["WEB_CONCURRENCY"]) * per_worker
    if ctx["has_queue"]:
        assert worker_replicas is not None
        assert worker_surge is not None
        assert int(settings[f"{prefix}MAX_WORKER_REPLICAS"]) == worker_replicas
        assert int(settings[f"{prefix}MAX_WORKER_SURGE"]) == worker_surge
        needed += (worker_replicas + worker_surge) * int(settings[f"{prefix}WORKER_CONCURRENCY"])
    else:
        assert f"{prefix}MAX_WORKER_REPLICAS" not in settings
        assert f"{prefix}MAX_WORKER_SURGE" not in settings
    available = int(settings[f"{prefix}DB_MAX_CONNECTIONS"]) - DEFAULT_CONNECTION_HEADROOM
    assert needed <= available, f"connection budget: {needed} > {available}"


# --- pod security -------------------------------------------------------------------------------


def check_restricted(pod: dict[str, Any]) -> None:
    """The restricted Pod Security Standard, with the image's numeric user."""
    pod_security = pod.get("securityContext", {})
    assert pod["automountServiceAccountToken"] is False
    mounts_by_volume = {v["name"]: v for v in pod.get("volumes", [])}
    for container in pod["containers"]:
        security = {**pod_security, **container.get("securityContext", {})}
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == IMAGE_UID
        assert security["runAsGroup"] == IMAGE_UID
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"] == {"drop": ["ALL"]}
        tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]  # noqa: S108
        assert len(tmp) == 1, "read-only root file system needs a writable /tmp"
        assert "emptyDir" in mounts_by_volume[tmp[0]["name"]]


def check_service_account(docs: list[dict[str, Any]], pod: dict[str, Any]) -> None:
    account = one(docs, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == account["metadata"]["name"]
