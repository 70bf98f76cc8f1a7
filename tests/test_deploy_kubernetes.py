"""Kubernetes: Kustomize overlays and the Helm chart render manifests that keep the contracts.

- Kustomize: `kubectl kustomize` (kustomize v5, from tests/k8s_tools.py) renders each overlay.
- Helm: `helm lint --strict` and `helm template` with values.yaml and each
  values-<environment>.yaml.

kubernetes-validate --strict checks the output; tests/deploy_checks.py asserts the contracts.
"""

from __future__ import annotations

from typing import Any

import k8s_tools
import pytest
from deploy_checks import (
    by_kind,
    check_public_paths,
    env_values,
    ingress_paths,
    load_all,
    one,
    validate_k8s,
)
from k8s_checks import check_api_workload
from matrix import Case, RenderCase, cases, context_of
from rendering import Rendered

OIDC_REQUIRED = ("OIDC_ISSUER", "OIDC_AUDIENCE")  # refused empty in staging and production


def check_environment(
    project: Rendered, ctx: dict[str, Any], manifests: str, environment: str
) -> list[dict[str, Any]]:
    """The manifests of one environment keep the contracts; its settings and Ingress are its own.
    Returns the parsed documents."""
    docs = load_all(manifests)
    try:
        check_api_workload(docs, ctx)
    except AssertionError as error:
        raise AssertionError(
            project.explain(None, f"{environment}: {error}\n{manifests}")
        ) from None
    settings = one(docs, "ConfigMap")["data"]
    assert settings[f"{ctx['env_prefix']}ENVIRONMENT"] == environment
    # Each environment names its own OIDC issuer and audience: empty until then (the service
    # refuses to start without them, saying which), never a placeholder issuer that would start
    # and refuse every token.
    oidc = {name: settings.get(f"{ctx['env_prefix']}{name}") for name in OIDC_REQUIRED}
    assert oidc == dict.fromkeys(OIDC_REQUIRED, "" if ctx["has_oidc"] else None), oidc
    assert bool(by_kind(docs, "Ingress")) == (environment == "production")
    for ingress in by_kind(docs, "Ingress"):
        check_public_paths(ingress_paths(ingress))
    return docs


# --- Kubernetes with Kustomize --------------------------------------------------------------


def kustomize(project: Rendered, overlay: str) -> str:
    result = project.run(
        k8s_tools.kubectl(),
        "kustomize",
        f"deploy/k8s/overlays/{overlay}",
        about=f"deploy/k8s/overlays/{overlay}/kustomization.yaml",
    )
    return result.stdout


@pytest.mark.parametrize("case", cases(uses_kustomize=True))
def test_kustomize_overlays(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    namespaces = set()
    for overlay in ("staging", "production"):
        manifests = kustomize(project, overlay)
        validate_k8s(project, manifests, f"kustomize-{overlay}")
        docs = check_environment(project, ctx, manifests, overlay)
        namespaces |= {doc["metadata"]["namespace"] for doc in docs}
        components = {doc["metadata"]["labels"].get("app.kubernetes.io/component") for doc in docs}
        # deploy.sh applies by these labels, in this order.
        assert components <= {"config", "migration", "api", "worker", "scheduler"}, components
        assert one(docs, "ServiceAccount")["metadata"]["labels"]["app.kubernetes.io/component"]
    assert len(namespaces) == 2, f"overlays share a namespace: {namespaces}"


@pytest.mark.parametrize("case", cases(uses_kustomize=True))
def test_kustomize_deploy_script_migrates_before_rollout(
    case: Case, render_case: RenderCase
) -> None:
    project = render_case(case)
    script = project.read("deploy/deploy.sh")
    steps = [
        "component=config",
        "delete job",
        "component=migration",
        "wait_for_job",
        "notin (config,migration)",
    ]
    ctx = context_of(case)
    steps.append(f"rollout status deployment/{ctx['project_slug']} ")
    if not ctx["has_database"]:
        steps = [s for s in steps if "job" not in s.lower() and s != "component=migration"]
        assert "alembic" not in script
        assert "wait_for_job" not in script
    rollouts = [
        f"rollout status deployment/{ctx['project_slug']}-{name} "
        for name in ("worker", "scheduler")
    ]
    if ctx["has_queue"]:
        steps += rollouts
    else:
        assert not [rollout for rollout in rollouts if rollout in script]
    positions = [script.rfind(step) for step in steps]
    assert -1 not in positions, project.explain("deploy/deploy.sh", f"missing: {steps}")
    assert positions == sorted(positions), project.explain("deploy/deploy.sh", "order")
    assert "set -eu" in script


# --- Kubernetes with Helm --------------------------------------------------------------------


def helm_template(project: Rendered, values: list[str]) -> str:
    flags = [arg for name in values for arg in ("--values", f"deploy/helm/{name}")]
    result = project.run(
        k8s_tools.helm(),
        "template",
        project.answers["project_slug"],
        "deploy/helm",
        "--namespace",
        "test",
        *flags,
        about="deploy/helm/values.yaml",
    )
    return result.stdout


@pytest.mark.parametrize("case", cases(uses_helm=True))
def test_helm_chart(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    for environment in ("staging", "production"):
        values = f"values-{environment}.yaml"
        project.run(
            k8s_tools.helm(),
            "lint",
            "--strict",
            "deploy/helm",
            "--values",
            f"deploy/helm/{values}",
            about=f"deploy/helm/{values}",
        )
        manifests = helm_template(project, [values])
        validate_k8s(project, manifests, f"helm-{environment}")
        scars = [n for n, line in enumerate(manifests.splitlines(), 1) if line and not line.strip()]
        assert not scars, project.explain(None, f"whitespace-only lines {scars}:\n{manifests}")
        docs = check_environment(project, ctx, manifests, environment)
        settings = one(docs, "ConfigMap")["data"]
        pod = one(docs, "Deployment", "api")["spec"]["template"]
        assert "checksum/config" in pod["metadata"]["annotations"], "config changes roll pods"
        if ctx["has_database"]:
            job = one(docs, "Job", "migration")
            hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
            assert set(hooks) == {"pre-install", "pre-upgrade"}, "migrate before the rollout"
            # A hook runs before the release's ConfigMap exists: its settings are inline.
            env = env_values(job["spec"]["template"]["spec"]["containers"][0])
            chart_added = {f"{ctx['env_prefix']}{n}" for n in ("PORT", "GRACEFUL_SHUTDOWN_SECONDS")}
            expected = {k: v for k, v in settings.items() if k not in chart_added}
            assert expected.items() <= env.items(), f"hook env {env} misses {expected}"


def helm_template_with(project: Rendered, name: str, values: str) -> list[dict[str, Any]]:
    """The chart's manifests with `values` (YAML) as an extra values file."""
    override = project.path.parent / f"{project.path.name}-{name}.yaml"
    override.write_text(values)
    args = ("template", "svc", "deploy/helm", "--values", override)
    result = project.run(k8s_tools.helm(), *args, about="deploy/helm/values.yaml")
    return load_all(result.stdout)


@pytest.mark.parametrize("case", cases(uses_helm=True))
def test_helm_values_switches(case: Case, render_case: RenderCase) -> None:
    """Autoscaling off: fixed replicas, and MAX_REPLICAS follows them."""
    project = render_case(case)
    ctx = context_of(case)
    docs = helm_template_with(
        project,
        "no-hpa",
        "autoscaling:\n  enabled: false\nreplicaCount: 3\nrollout:\n  maxSurge: 2\n"
        "ingress:\n  enabled: true\n",
    )
    assert not by_kind(docs, "HorizontalPodAutoscaler")
    api = one(docs, "Deployment", "api")
    assert api["spec"]["replicas"] == 3
    # One value of the chart sets both the rollout's surge and the budget's MAX_SURGE.
    assert api["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 2
    # The chart's Ingress, once enabled, routes the public API's prefixes only.
    check_public_paths(ingress_paths(one(docs, "Ingress")))
    if ctx["has_database"]:
        data = one(docs, "ConfigMap")["data"]
        assert data[f"{ctx['env_prefix']}MAX_REPLICAS"] == "3"
        assert data[f"{ctx['env_prefix']}MAX_SURGE"] == "2"


@pytest.mark.parametrize("case", cases(uses_helm=True, has_queue=True, metrics=True))
def test_helm_worker_pod_monitor(case: Case, render_case: RenderCase) -> None:
    """With the operator's monitors on, a PodMonitor scrapes the workers' own metrics port (they
    have no Service); the scheduler is never scaled, whatever the values."""
    project = render_case(case)
    monitors_on = "metrics:\n  serviceMonitor:\n    enabled: true\n"
    docs = helm_template_with(project, "monitors", monitors_on)
    monitor = one(docs, "PodMonitor")
    worker = one(docs, "Deployment", "worker")
    print(f"PodMonitor: {monitor['spec']}")
    assert monitor["spec"]["selector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    (port,) = worker["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert endpoint["port"] == port["name"] == "metrics", (endpoint, port)
    assert endpoint["path"] == "/metrics", endpoint
    assert one(docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "http"
    assert one(docs, "Deployment", "scheduler")["spec"]["replicas"] == 1


@pytest.mark.parametrize("case", cases(uses_helm=True))
def test_helm_deploy_script(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    script = project.read("deploy/deploy.sh")
    for needed in ("helm upgrade", "--install", "--wait", "values-${environment}.yaml"):
        assert needed in script, project.explain("deploy/deploy.sh", needed)
