"""The `metrics` and `sentry` answers: what each renders, statically for every matrix row, and
the rendered suites of representative combinations (slow).

Static: the files, dependencies, settings and Kubernetes scrape annotations follow the answers,
and an answer that is off leaves no trace (no prometheus, no sentry anywhere). Slow: renders
install, pass ruff, mypy and their own tests, /metrics with two real workers included
(uvicorn and gunicorn), and Sentry's envelope arriving at a local receiver.
"""

from __future__ import annotations

import re
import time
from typing import Any

import k8s_tools
import pytest
import yaml
from matrix import MATRIX, Case, RenderCase, context_of
from provision import ServiceFactory
from rendering import Rendered


def texts(project: Rendered) -> dict[str, str]:
    found = {}
    for relative in project.files:
        if relative.startswith(".git/") or relative == ".copier-answers.yml":
            continue  # the answers file names every question
        try:
            found[relative] = (project.path / relative).read_text()
        except UnicodeDecodeError:
            continue
    return found


def listed_integrations(components: str) -> list[str]:
    """The modules of `INTEGRATIONS = [...]` in a rendered components.py, in order."""
    pattern = r"^INTEGRATIONS: list\[Integration\] = \[(.*?)\]$"
    found = re.search(pattern, components, re.MULTILINE | re.DOTALL)
    assert found, components
    return [name.strip() for name in found.group(1).split(",") if name.strip()]


def mentioning(project: Rendered, word: str) -> list[str]:
    return [name for name, text in texts(project).items() if word in text.lower()]


@pytest.mark.parametrize("case", MATRIX, ids=[case.id for case in MATRIX])
def test_metrics_answer(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    package = f"src/{project.answers['package_name']}"
    files = set(project.files)
    expected = {
        f"{package}/integrations/metrics.py",
        f"{package}/integrations/metrics_dir.py",
        "tests/test_metrics.py",
        "tests/test_metrics_workers.py",
    }
    if not ctx["metrics"]:
        assert not expected & files, project.explain(None, f"rendered: {expected & files}")
        # The chart's Deployment is plain Helm: its annotations follow `.Values.metrics`, absent.
        chart = "deploy/helm/templates/deployment.yaml"
        leftovers = [name for name in mentioning(project, "prometheus") if name != chart]
        assert not leftovers, project.explain(leftovers[0], "metrics=false mentions prometheus")
        return
    assert expected <= files, project.explain(None, f"missing: {expected - files}")
    assert '"prometheus-client' in project.read("pyproject.toml")
    # The metrics component is in the service's list and installs /metrics with its recorder.
    components = project.read(f"{package}/components.py")
    assert "metrics" in listed_integrations(components), project.explain(f"{package}/components.py")
    module = project.read(f"{package}/integrations/metrics.py")
    assert "install_metrics(app, self.metrics)" in module, project.explain(
        f"{package}/integrations/metrics.py"
    )
    # The route recorder must be innermost: the components install before the versioning
    # middleware is added.
    main = project.read(f"{package}/main.py")
    assert main.index("part.install(") < main.index("install_versions("), project.explain(
        f"{package}/main.py", "the components must install before install_versions"
    )
    assert "METRICS_SAMPLE_INTERVAL_SECONDS" in project.read(".env.example")
    if ctx["server"] == "gunicorn":
        config = project.read("gunicorn.conf.py")
        for hook in ("def on_starting(", "def child_exit(", "def on_exit("):
            assert hook in config, project.explain("gunicorn.conf.py", f"missing {hook}")
    else:
        assert "supervised_metrics_dir" in project.read(f"{package}/__main__.py")


@pytest.mark.parametrize("case", MATRIX, ids=[case.id for case in MATRIX])
def test_sentry_answer(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    package = f"src/{project.answers['package_name']}"
    expected = {f"{package}/integrations/sentry.py", "tests/test_sentry.py"}
    files = set(project.files)
    if not ctx["sentry"]:
        leftovers = mentioning(project, "sentry")
        assert not leftovers, project.explain(leftovers[0], "sentry=false mentions sentry")
        return
    assert expected <= files, project.explain(None, f"missing: {expected - files}")
    assert '"sentry-sdk' in project.read("pyproject.toml")
    sentry_settings = f"{package}/kernel/settings/sentry.py"
    assert "sentry_dsn: SecretStr" in project.read(sentry_settings), project.explain(
        sentry_settings
    )
    assert "SENTRY_DSN=\n" in project.read(".env.example"), "the example DSN stays empty"
    components = project.read(f"{package}/components.py")
    assert listed_integrations(components)[0] == "sentry", project.explain(
        f"{package}/components.py", "error reporting opens first (and closes last)"
    )
    module = project.read(f"{package}/integrations/sentry.py")
    assert "init_sentry(self.settings)" in module, project.explain(
        f"{package}/integrations/sentry.py"
    )


def pod_annotations(manifests: str) -> dict[str, str]:
    docs = [doc for doc in yaml.safe_load_all(manifests) if doc]
    deployments = [
        doc
        for doc in docs
        if doc["kind"] == "Deployment"
        and doc["metadata"]["labels"].get("app.kubernetes.io/component") == "api"
    ]
    assert len(deployments) == 1, [doc["metadata"]["name"] for doc in deployments]
    annotations: dict[str, str] = deployments[0]["spec"]["template"]["metadata"].get(
        "annotations", {}
    )
    return annotations


SCRAPE = {"prometheus.io/scrape": "true", "prometheus.io/port": "8000"}


@pytest.mark.parametrize(
    "case",
    [case for case in MATRIX if context_of(case)["is_k8s"]],
    ids=lambda case: case.id,
)
def test_kubernetes_scrape_annotations(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    if ctx["uses_kustomize"]:
        manifests = project.run(
            k8s_tools.kubectl(), "kustomize", "deploy/k8s/overlays/production"
        ).stdout
    else:
        manifests = project.run(
            k8s_tools.helm(), "template", "svc", "deploy/helm", about="deploy/helm/values.yaml"
        ).stdout
        assert "ServiceMonitor" not in manifests, "the ServiceMonitor is off by default"
    annotations = pod_annotations(manifests)
    if ctx["metrics"]:
        assert SCRAPE.items() <= annotations.items(), annotations
        assert annotations["prometheus.io/path"] == "/metrics"
    else:
        assert not any(key.startswith("prometheus.io/") for key in annotations), annotations


@pytest.mark.parametrize(
    "case",
    [case for case in MATRIX if context_of(case)["uses_helm"] and context_of(case)["metrics"]],
    ids=lambda case: case.id,
)
def test_helm_service_monitor_switch(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    manifests = project.run(
        k8s_tools.helm(),
        "template",
        "svc",
        "deploy/helm",
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.serviceMonitor.labels.release=kube-prometheus-stack",
        about="deploy/helm/values.yaml",
    ).stdout
    docs = [doc for doc in yaml.safe_load_all(manifests) if doc]
    monitors = [doc for doc in docs if doc["kind"] == "ServiceMonitor"]
    assert len(monitors) == 1, manifests
    monitor = monitors[0]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = next(doc for doc in docs if doc["kind"] == "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items(), (selector, service)
    ports = {port["name"] for port in service["spec"]["ports"]}
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == ["http"]
    assert "http" in ports
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


# --- the rendered suites of representative combinations ----------------------------------------

# Package names unique to this module: the rendered suites derive database names from them.
SUITES = {
    "metrics-sentry-gunicorn-postgresql": {
        "project_name": "Obs Gunicorn Pg",
        "server": "gunicorn",
        "database": "postgresql",
        "sentry": True,
    },
    "nometrics-nosentry-uvicorn-sqlite-py312": {
        "project_name": "Obs Plain Sqlite",
        "python_version": "3.12",
        "database": "sqlite",
        "metrics": False,
        "api_versioning": "mounted",
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("answers", SUITES.values(), ids=list(SUITES))
def test_rendered_suite(answers: dict[str, Any], rendered_service: ServiceFactory) -> None:
    started = time.monotonic()
    project = rendered_service(answers)
    for argv in (("ruff", "check"), ("ruff", "format", "--check"), ("mypy",)):
        project.uv("run", "--locked", *argv, about="pyproject.toml")
    result = project.own_suite(workers=None, about="pyproject.toml")
    summary = result.stdout.strip().splitlines()[-1]
    print(f"[{answers}] {summary} ({time.monotonic() - started:.1f} s in all)")
    if answers.get("metrics", True):
        assert "tests/test_metrics_workers.py" in project.files
    if answers.get("sentry", False):
        assert "tests/test_sentry.py" in project.files
