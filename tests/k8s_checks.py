"""The contracts of the rendered Kubernetes manifests (Kustomize or Helm), as parsed documents.

`check_api_workload` checks the API Deployment and its neighbours, then calls the others: the
Service, HPA and PDB (`check_scaling`), the migration Job, the worker and the scheduler. The
contracts every deployment keeps, on any target, are deploy_checks.py's.
"""

from __future__ import annotations

from typing import Any

from deploy_checks import (
    PROBES,
    SECRET_NAME,
    by_kind,
    check_connection_budget,
    check_liveness,
    check_restricted,
    check_service_account,
    check_shutdown_budget,
    env_values,
    one,
    secret_refs,
    secret_settings,
    surge_of,
)

# --- the API and its neighbours -----------------------------------------------------------------


def check_api_workload(docs: list[dict[str, Any]], ctx: dict[str, Any]) -> None:
    """The API Deployment and its neighbours keep every contract of the issue."""
    prefix = ctx["env_prefix"]
    deployment = one(docs, "Deployment", "api")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config = one(docs, "ConfigMap", "config")
    settings = config["data"]

    # Config: from the ConfigMap; secrets by reference only, and none in the ConfigMap.
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    assert not [key for key in settings if SECRET_NAME.search(key)], settings
    refs = secret_refs(container)
    wanted = secret_settings(ctx)
    assert set(refs) == wanted, refs
    assert all(ref["key"] == name for name, ref in refs.items())
    assert not [e for e in container.get("env", []) if "value" in e], container["env"]

    # Serving: the image's port, one worker per pod, the image's CMD.
    assert "command" not in container
    assert "args" not in container
    (port,) = container["ports"]
    assert port["name"] == "http"
    assert str(port["containerPort"]) == settings[f"{prefix}PORT"] == "8000"
    assert settings[f"{prefix}HOST"] == "0.0.0.0"  # noqa: S104 - inside the pod
    assert settings["WEB_CONCURRENCY"] == "1"
    assert pod["enableServiceLinks"] is False  # <SVC>_PORT would shadow {prefix}PORT

    # Probes on the service's paths and port.
    for probe, path in PROBES.items():
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    assert container["readinessProbe"]["timeoutSeconds"] >= 2
    check_liveness(container["livenessProbe"])

    # Shutdown: preStop sleep, then the graceful shutdown, inside the grace period.
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop > 0
    check_shutdown_budget(settings, prefix, pod["terminationGracePeriodSeconds"], pre_stop)
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0

    # Resources: requests, and a memory limit.
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]

    check_restricted(pod)
    check_service_account(docs, pod)
    check_scaling(docs, ctx, deployment, settings)
    check_migration_job(docs, ctx, deployment, wanted)
    check_worker_workload(docs, ctx, deployment, wanted)
    check_scheduler_workload(docs, ctx, deployment, wanted)


def check_scaling(
    docs: list[dict[str, Any]],
    ctx: dict[str, Any],
    deployment: dict[str, Any],
    settings: dict[str, str],
) -> None:
    """Service, HPA and PDB select the API's pods; MAX_REPLICAS is the HPA's maximum."""
    prefix = ctx["env_prefix"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    service = one(docs, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"], "the HPA owns replicas"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] > 0
    pdb = one(docs, "PodDisruptionBudget", "api")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()

    # Connection budget: MAX_REPLICAS is the HPA's maximum, MAX_WORKER_REPLICAS the worker's
    # replicas, the surges their Deployments' maxSurge, and the pools and jobs fit the database.
    if ctx["has_database"]:
        max_replicas = hpa["spec"]["maxReplicas"]
        worker = one(docs, "Deployment", "worker") if ctx["has_queue"] else None
        worker_replicas = None if worker is None else int(worker["spec"]["replicas"])
        worker_surge = None if worker is None else surge_of(worker, int(worker["spec"]["replicas"]))
        check_connection_budget(
            settings,
            ctx,
            max_replicas,
            worker_replicas,
            surge=surge_of(deployment, max_replicas),
            worker_surge=worker_surge,
        )
    else:
        assert f"{prefix}MAX_REPLICAS" not in settings
        assert f"{prefix}MAX_SURGE" not in settings
        assert f"{prefix}MAX_WORKER_REPLICAS" not in settings


def check_migration_job(
    docs: list[dict[str, Any]], ctx: dict[str, Any], deployment: dict[str, Any], wanted: set[str]
) -> None:
    """With a database, a migration Job with the API's image; without one, no Job."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    selector = deployment["spec"]["selector"]["matchLabels"]
    jobs = by_kind(docs, "Job")
    if not ctx["has_database"]:
        assert not jobs
        return
    job = one(docs, "Job", "migration")
    job_pod = job["spec"]["template"]["spec"]
    (migrate,) = job_pod["containers"]
    assert migrate["image"] == container["image"]
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    assert job_pod["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] > 0
    refs = set(secret_refs(migrate))
    assert f"{ctx['env_prefix']}DATABASE_URL" in refs, refs
    assert refs <= wanted, refs
    check_restricted(job_pod)
    job_labels = job["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= job_labels.items(), "the Deployment would adopt the Job's pod"


# --- the worker and the scheduler ---------------------------------------------------------------


def check_worker_workload(
    docs: list[dict[str, Any]], ctx: dict[str, Any], api: dict[str, Any], wanted: set[str]
) -> None:
    """With a queue, a worker Deployment: the API's image and config, the worker's command, its
    heartbeat probe, a grace period that covers its shutdown timeout, its own PDB."""
    workers = [doc for doc in by_kind(docs, "Deployment") if doc is not api]
    if not ctx["has_queue"]:
        assert not workers, "a worker or scheduler Deployment without a queue"
        return
    worker = one(docs, "Deployment", "worker")
    pod = worker["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (api_container,) = api["spec"]["template"]["spec"]["containers"]
    module = f"{ctx['package_name']}.worker"
    assert container["image"] == api_container["image"]
    assert container["command"] == ["python", "-m", module]
    assert container["envFrom"] == api_container["envFrom"]
    # The API's secrets, Sentry's DSN included: failed jobs are reported from the worker.
    refs = set(secret_refs(container))
    assert refs == wanted, f"worker secrets {sorted(refs)} != {sorted(wanted)}"
    check_heartbeat_probes(container, ctx)
    settings = one(docs, "ConfigMap", "config")["data"] | env_values(container)
    check_worker_metrics(worker, settings, ctx)
    shutdown = float(settings[f"{ctx['env_prefix']}WORKER_SHUTDOWN_TIMEOUT_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] >= shutdown + 5
    assert int(worker["spec"]["replicas"]) >= 1
    assert worker["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    check_restricted(pod)
    assert pod["serviceAccountName"] == api["spec"]["template"]["spec"]["serviceAccountName"]

    labels = worker["spec"]["template"]["metadata"]["labels"]
    selector = worker["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    api_selector = api["spec"]["selector"]["matchLabels"]
    assert not api_selector.items() <= labels.items(), "the API would adopt the worker's pods"
    assert not one(docs, "Service")["spec"]["selector"].items() <= labels.items()
    pdb = one(docs, "PodDisruptionBudget", "worker")
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert all(hpa["spec"]["scaleTargetRef"]["name"] != worker["metadata"]["name"] for hpa in hpas)


def check_heartbeat_probes(container: dict[str, Any], ctx: dict[str, Any]) -> None:
    """The worker's and the scheduler's probes: `python -m <package>.worker.probe`, exec'd."""
    probe = ["python", "-m", f"{ctx['package_name']}.worker.probe"]
    for name in ("startupProbe", "livenessProbe"):
        assert container[name]["exec"]["command"] == probe, f"{container['name']}: {name}"
        assert container[name]["timeoutSeconds"] <= container[name]["periodSeconds"], name
    assert "readinessProbe" not in container, f"{container['name']} serves no traffic"
    assert "lifecycle" not in container, "no preStop sleep: no endpoints to leave"


def check_worker_metrics(
    worker: dict[str, Any], settings: dict[str, str], ctx: dict[str, Any]
) -> None:
    """With metrics, the worker serves /metrics on WORKER_METRICS_PORT, its container's
    "metrics" port, and its pods carry the scrape annotations; without, neither."""
    template = worker["spec"]["template"]
    annotations = template["metadata"].get("annotations", {})
    (container,) = template["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
    setting = settings.get(f"{ctx['env_prefix']}WORKER_METRICS_PORT")
    if not ctx["metrics"]:
        assert not ports, ports
        assert setting is None, setting
        assert not [key for key in annotations if key.startswith("prometheus.io/")], annotations
        return
    print(f"worker metrics: port {ports}, setting {setting}, annotations {annotations}")
    assert set(ports) == {"metrics"}, ports
    assert str(ports["metrics"]) == setting == "9100", (ports, setting)
    assert annotations.get("prometheus.io/scrape") == "true", annotations
    assert annotations.get("prometheus.io/port") == setting, annotations
    assert annotations.get("prometheus.io/path") == "/metrics", annotations


SCHEDULER_MAX_GRACE_SECONDS = 15  # it runs no job: SIGTERM stops it within a second or two


def check_scheduler_workload(
    docs: list[dict[str, Any]], ctx: dict[str, Any], api: dict[str, Any], wanted: set[str]
) -> None:
    """With a queue, exactly one scheduler by construction: one replica, Recreate (the old pod
    stops before the new one starts), no autoscaler, the API's image, config and secrets (the
    DSN included), the scheduler's command and the worker's heartbeat probes."""
    if not ctx["has_queue"]:
        return
    scheduler = one(docs, "Deployment", "scheduler")
    spec = scheduler["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    (api_container,) = api["spec"]["template"]["spec"]["containers"]
    print(f"scheduler: replicas {spec.get('replicas')}, strategy {spec.get('strategy')}")
    assert spec["replicas"] == 1, "one scheduler"
    assert spec["strategy"] == {"type": "Recreate"}, spec.get("strategy")
    assert container["command"] == ["python", "-m", f"{ctx['package_name']}.worker.scheduler"]
    assert container["image"] == api_container["image"]
    assert container["envFrom"] == api_container["envFrom"]
    refs = set(secret_refs(container))
    assert refs == wanted, f"scheduler secrets {sorted(refs)} != {sorted(wanted)}"
    check_heartbeat_probes(container, ctx)
    assert "ports" not in container, "the scheduler serves nothing"
    assert 0 < pod["terminationGracePeriodSeconds"] <= SCHEDULER_MAX_GRACE_SECONDS
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    check_restricted(pod)
    assert pod["serviceAccountName"] == api["spec"]["template"]["spec"]["serviceAccountName"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    others = [d for d in by_kind(docs, "Deployment") if d is not scheduler]
    adopted = [
        d["metadata"]["name"]
        for d in others
        if d["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ]
    assert not adopted, f"{adopted} would adopt the scheduler's pod"
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert all(h["spec"]["scaleTargetRef"]["name"] != scheduler["metadata"]["name"] for h in hpas)
