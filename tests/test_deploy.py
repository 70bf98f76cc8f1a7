"""Deployment targets and CI/CD: the rendered artifacts keep the service's contracts.

Each matrix case is checked for the files its answers promise; then, per target:

- Kubernetes (Kustomize): `kubectl kustomize` (kustomize v5, from tests/k8s_tools.py) renders
  each overlay; kubernetes-validate --strict checks the output; the contracts are asserted on it.
- Kubernetes (Helm): `helm lint --strict` and `helm template` with values.yaml and each
  values-<environment>.yaml; kubernetes-validate --strict and the same contracts.
- Cloud Run: check-jsonschema with the Knative Service schema (tests/schemas), before and after
  deploy.sh's placeholder substitution, plus the Cloud Run rules the schema cannot see.
- Compose: deploy/compose/compose.prod.yaml's rules (test_render.py validates it against the
  compose-spec).
- CI/CD: database service containers in the test jobs, the deploy pipeline's order and
  permissions, the template-update job's wrapper and --trust input.

Contracts: probes on /startupz, /livez, /readyz; restricted security context with the image's
UID/GID 10001; a grace period covering preStop + graceful shutdown; migrations before rollout;
no secret values anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import k8s_tools
import matrix
import pytest
import yaml
from matrix import MATRIX, Case, RenderCase
from rendering import BIN, ROOT, Rendered

KNATIVE_SCHEMA = ROOT / "tests" / "schemas" / "knative-service_v1.json"
IMAGE_UID = 10001
PROBES = {"startupProbe": "/startupz", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|DATABASE_URL|CREDENTIAL|PRIVATE", re.IGNORECASE)
DEFAULT_CONNECTION_HEADROOM = 10  # core/settings.py: db_connection_headroom
CLOUD_RUN_SHUTDOWN_SECONDS = 10  # Cloud Run's SIGTERM-to-SIGKILL budget
COMPOSE_PROD = "deploy/compose/compose.prod.yaml"
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def context_of(case: Case) -> dict[str, Any]:
    """Every answer and computed flag of a case, as the templates see them (render()'s data)."""
    return matrix.effective_row({"project_name": "Orders Service", **case.answers})[1]


def cases(**wanted: Any) -> list[Any]:
    """The matrix cases whose context has the wanted values, as pytest params."""
    return [
        pytest.param(case, id=case.id)
        for case in MATRIX
        if all(context_of(case)[key] == value for key, value in wanted.items())
    ]


ALL_CASES = [pytest.param(case, id=case.id) for case in MATRIX]


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
    """The settings the API reads from secrets: the signing key, the database and broker URLs."""
    names = ["SECRET_KEY"]
    names += ["DATABASE_URL"] if ctx["has_database"] else []
    names += ["BROKER_URL"] if ctx["has_queue"] else []
    names += ["SENTRY_DSN"] if ctx["sentry"] else []
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


# --- files the answers promise --------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES)
def test_deploy_files_follow_the_answers(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    files = set(project.files)
    target = ctx["deploy_target"]
    expected = {
        "deploy/README.md": True,
        "deploy/deploy.sh": True,
        "deploy/k8s/base/kustomization.yaml": ctx["uses_kustomize"],
        "deploy/k8s/overlays/staging/kustomization.yaml": ctx["uses_kustomize"],
        "deploy/k8s/overlays/production/kustomization.yaml": ctx["uses_kustomize"],
        "deploy/k8s/base/migration-job.yaml": ctx["uses_kustomize"] and ctx["has_database"],
        "deploy/helm/Chart.yaml": ctx["uses_helm"],
        "deploy/helm/values-production.yaml": ctx["uses_helm"],
        "deploy/helm/values-staging.yaml": ctx["uses_helm"],
        "deploy/cloudrun/service.yaml": target == "cloud_run",
        "deploy/cloudrun/migrate-job.yaml": target == "cloud_run" and ctx["has_database"],
        "deploy/cloudrun/cloudbuild.yaml": target == "cloud_run" and ctx["ci_provider"] == "gitlab",
        "deploy/compose/compose.prod.yaml": target == "compose",
        "compose.prod.yaml": False,  # moved to deploy/compose/ in 0.2.0 (hooks/migrate.py)
        ".github/workflows/deploy.yml": ctx["ci_provider"] == "github",
        ".github/workflows/template-update.yml": ctx["ci_provider"] == "github"
        and ctx["template_updates"],
        ".gitlab-ci.yml": ctx["ci_provider"] == "gitlab",
        ".gitlab/ci/test.yml": ctx["ci_provider"] == "gitlab",
        ".gitlab/ci/deploy.yml": ctx["ci_provider"] == "gitlab",
        ".gitlab/ci/template-update.yml": ctx["ci_provider"] == "gitlab"
        and ctx["template_updates"],
    }
    wrong = {name: want for name, want in expected.items() if (name in files) != want}
    assert not wrong, project.explain(None, f"file present != expected: {wrong}")
    deploy_sh = project.path / "deploy/deploy.sh"
    assert deploy_sh.stat().st_mode & 0o111, project.explain(None, "deploy.sh is not executable")


DEPLOY_ARTIFACT = re.compile(
    r"^(deploy/.*|compose\.prod\.yaml|\.github/workflows/deploy\.yml|\.gitlab/ci/deploy\.yml)$"
)


@pytest.mark.parametrize("case", ALL_CASES)
def test_no_secret_values_in_deploy_artifacts(case: Case, render_case: RenderCase) -> None:
    """Secret settings are references (Secret, Secret Manager, CI secrets), never values.

    (The CI test jobs' database containers are throwaway: their literal passwords are allowed
    there and only there, and test_ci_tests_run_against_the_database checks them.)
    """
    project = render_case(case)
    files = [name for name in project.files if DEPLOY_ARTIFACT.match(name)]
    assignment = re.compile(r"^\s*-?\s*([A-Z][A-Z0-9_]*)\s*[:=]\s*(\S.*)$")
    leaks = []
    for name in files:
        text = project.read(name)
        for number, line in enumerate(text.splitlines(), 1):
            match = assignment.match(line)
            if match and SECRET_NAME.search(match.group(1)) and not match.group(2).startswith("$"):
                leaks.append(f"{name}:{number}: {line.strip()}")
        leaks += [
            f"{name}: a URL with a password" for _ in re.findall(r"://[\w.-]+:[^@/\s]+@", text)
        ]
    assert files, project.explain(None, "no deploy artifacts")
    assert not leaks, project.explain(None, "\n".join(leaks))


# --- Kubernetes: the contracts of the rendered manifests ------------------------------------


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

    # Shutdown: preStop sleep, then the graceful shutdown, inside the grace period.
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(settings[f"{prefix}GRACEFUL_SHUTDOWN_SECONDS"])
    assert pre_stop > 0
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + graceful
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

    # Connection budget: MAX_REPLICAS is the HPA's maximum, and the pools fit the database.
    if ctx["has_database"]:
        check_connection_budget(settings, prefix, hpa["spec"]["maxReplicas"])
    else:
        assert f"{prefix}MAX_REPLICAS" not in settings


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


def check_worker_workload(
    docs: list[dict[str, Any]], ctx: dict[str, Any], api: dict[str, Any], wanted: set[str]
) -> None:
    """With a queue, a worker Deployment: the API's image and config, the worker's command, its
    heartbeat probe, a grace period that covers its shutdown timeout, its own PDB."""
    workers = [doc for doc in by_kind(docs, "Deployment") if doc is not api]
    if not ctx["has_queue"]:
        assert not workers, "a worker Deployment without a queue"
        return
    worker = one(docs, "Deployment", "worker")
    pod = worker["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (api_container,) = api["spec"]["template"]["spec"]["containers"]
    module = f"{ctx['package_name']}.worker"
    assert container["image"] == api_container["image"]
    assert container["command"] == ["python", "-m", module]
    assert container["envFrom"] == api_container["envFrom"]
    # The API's secrets; Sentry's DSN may be left out: the worker does not report to Sentry.
    refs = set(secret_refs(container))
    assert wanted - {f"{ctx['env_prefix']}SENTRY_DSN"} <= refs <= wanted, refs
    probe = ["python", "-m", f"{module}.probe"]
    for name in ("startupProbe", "livenessProbe"):
        assert container[name]["exec"]["command"] == probe, name
        assert container[name]["timeoutSeconds"] <= container[name]["periodSeconds"], name
    assert "readinessProbe" not in container, "the worker serves no traffic"
    assert "lifecycle" not in container, "no preStop sleep: no endpoints to leave"
    settings = one(docs, "ConfigMap", "config")["data"] | env_values(container)
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


def check_connection_budget(settings: dict[str, str], prefix: str, max_replicas: int) -> None:
    assert int(settings[f"{prefix}MAX_REPLICAS"]) == max_replicas
    per_worker = int(settings[f"{prefix}DB_POOL_SIZE"]) + int(settings[f"{prefix}DB_MAX_OVERFLOW"])
    needed = max_replicas * int(settings["WEB_CONCURRENCY"]) * per_worker
    available = int(settings[f"{prefix}DB_MAX_CONNECTIONS"]) - DEFAULT_CONNECTION_HEADROOM
    assert needed <= available, f"connection budget: {needed} > {available}"


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
        docs = load_all(manifests)
        try:
            check_api_workload(docs, ctx)
        except AssertionError as error:
            raise AssertionError(
                project.explain(None, f"{overlay}: {error}\n{manifests}")
            ) from None
        settings = one(docs, "ConfigMap")["data"]
        assert settings[f"{ctx['env_prefix']}ENVIRONMENT"] == overlay
        assert bool(by_kind(docs, "Ingress")) == (overlay == "production")
        namespaces |= {doc["metadata"]["namespace"] for doc in docs}
        components = {doc["metadata"]["labels"].get("app.kubernetes.io/component") for doc in docs}
        # deploy.sh applies by these labels, in this order.
        assert components <= {"config", "migration", "api", "worker"}, components
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
        "rollout status",
    ]
    ctx = context_of(case)
    if not ctx["has_database"]:
        steps = [s for s in steps if "job" not in s.lower() and s != "component=migration"]
        assert "alembic" not in script
        assert "wait_for_job" not in script
    worker_rollout = f"rollout status deployment/{ctx['project_slug']}-worker "
    if ctx["has_queue"]:
        steps.append(worker_rollout)
    else:
        assert worker_rollout not in script
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
        docs = load_all(manifests)
        try:
            check_api_workload(docs, ctx)
        except AssertionError as error:
            raise AssertionError(
                project.explain(None, f"{environment}: {error}\n{manifests}")
            ) from None
        settings = one(docs, "ConfigMap")["data"]
        assert settings[f"{ctx['env_prefix']}ENVIRONMENT"] == environment
        assert bool(by_kind(docs, "Ingress")) == (environment == "production")
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


@pytest.mark.parametrize("case", cases(uses_helm=True))
def test_helm_values_switches(case: Case, render_case: RenderCase) -> None:
    """Autoscaling off: fixed replicas, and MAX_REPLICAS follows them."""
    project = render_case(case)
    ctx = context_of(case)
    override = project.path.parent / f"{project.path.name}-no-hpa.yaml"
    override.write_text("autoscaling:\n  enabled: false\nreplicaCount: 3\n")
    result = project.run(
        k8s_tools.helm(),
        "template",
        "svc",
        "deploy/helm",
        "--values",
        override,
        about="deploy/helm/values.yaml",
    )
    docs = load_all(result.stdout)
    assert not by_kind(docs, "HorizontalPodAutoscaler")
    assert one(docs, "Deployment", "api")["spec"]["replicas"] == 3
    if ctx["has_database"]:
        assert one(docs, "ConfigMap")["data"][f"{ctx['env_prefix']}MAX_REPLICAS"] == "3"


@pytest.mark.parametrize("case", cases(uses_helm=True))
def test_helm_deploy_script(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    script = project.read("deploy/deploy.sh")
    for needed in ("helm upgrade", "--install", "--wait", "values-${environment}.yaml"):
        assert needed in script, project.explain("deploy/deploy.sh", needed)


# --- Cloud Run -------------------------------------------------------------------------------

CLOUD_RUN_PLACEHOLDERS = {
    "${IMAGE}": "europe-docker.pkg.dev/p/r/svc:0123abc",
    "${ENVIRONMENT}": "staging",
    "${SERVICE_ACCOUNT}": "svc@p.iam.gserviceaccount.com",
    "${PROJECT_ID}": "p",  # tracing=cloud_trace only: the project of the traces
}


def substituted(text: str) -> str:
    """What deploy.sh's sed makes of a Cloud Run YAML."""
    for placeholder, value in CLOUD_RUN_PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return text


@pytest.mark.parametrize("case", cases(deploy_target="cloud_run"))
def test_cloud_run_service(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    prefix = ctx["env_prefix"]
    name = "deploy/cloudrun/service.yaml"
    raw = project.read(name)
    placeholders = set(re.findall(r"\$\{[A-Z_]+\}", raw))
    expected = set(CLOUD_RUN_PLACEHOLDERS)
    if ctx["tracing"] != "cloud_trace":
        expected.discard("${PROJECT_ID}")
    assert placeholders == expected, placeholders
    final = project.path.parent / f"{project.path.name}-cloudrun-service.yaml"
    final.write_text(substituted(raw))
    for path in (name, final):
        project.run(BIN / "check-jsonschema", "--schemafile", KNATIVE_SCHEMA, path, about=name)

    service = yaml.safe_load(substituted(raw))
    explain = project.explain(name)
    assert service["apiVersion"] == "serving.knative.dev/v1", explain
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    spec = template["spec"]
    containers = spec["containers"]
    assert len(containers) == 1, "one ingress container"
    (container,) = containers
    (port,) = container["ports"]
    env = env_values(container)
    assert port["name"] == "http1", explain
    assert str(port["containerPort"]) == env[f"{prefix}PORT"] == "8000", explain
    assert spec["containerConcurrency"] > 0, explain

    # Probes: startup on /readyz (no readiness probe on Cloud Run), liveness on /livez.
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz", explain
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez", explain
    assert "readinessProbe" not in container, explain
    for probe in ("startupProbe", "livenessProbe"):
        settings = container[probe]
        assert settings["httpGet"]["port"] == port["containerPort"], explain
        assert settings["timeoutSeconds"] <= settings["periodSeconds"], explain

    # CPU and memory, and one worker per vCPU.
    limits = container["resources"]["limits"]
    assert {"cpu", "memory"} <= set(limits), explain
    assert int(env["WEB_CONCURRENCY"]) == int(float(limits["cpu"])), explain

    # Shutdown within Cloud Run's 10 s.
    assert int(env[f"{prefix}GRACEFUL_SHUTDOWN_SECONDS"]) < CLOUD_RUN_SHUTDOWN_SECONDS - 1, explain

    # Scaling and billing settings.
    assert int(annotations["autoscaling.knative.dev/minScale"]) >= 0, explain
    max_scale = int(annotations["autoscaling.knative.dev/maxScale"])
    throttled = annotations["run.googleapis.com/cpu-throttling"]
    assert throttled == ("false" if ctx["cloud_run_cpu_always_allocated"] else "true"), explain
    if ctx["has_database"]:
        check_connection_budget(env, prefix, max_scale)
    else:
        assert f"{prefix}MAX_REPLICAS" not in env, explain

    # Secrets from Secret Manager, never values.
    refs = secret_refs(container)
    assert set(refs) == secret_settings(ctx), explain
    assert not [key for key in env if SECRET_NAME.search(key)], explain


@pytest.mark.parametrize("case", cases(deploy_target="cloud_run"))
def test_cloud_run_migrates_before_deploying(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    script = project.read("deploy/deploy.sh")
    if not ctx["has_database"]:
        assert "jobs execute" not in script
        return
    job = yaml.safe_load(substituted(project.read("deploy/cloudrun/migrate-job.yaml")))
    explain = project.explain("deploy/cloudrun/migrate-job.yaml")
    assert job["apiVersion"] == "run.googleapis.com/v1", explain
    assert job["kind"] == "Job", explain
    task = job["spec"]["template"]["spec"]["template"]["spec"]
    (container,) = task["containers"]
    service = yaml.safe_load(substituted(project.read("deploy/cloudrun/service.yaml")))
    assert container["image"] == service["spec"]["template"]["spec"]["containers"][0]["image"]
    assert container["command"] == ["alembic", "upgrade", "head"], explain
    assert task["maxRetries"] == 0, explain
    assert set(secret_refs(container)) == {
        f"{ctx['env_prefix']}SECRET_KEY",
        f"{ctx['env_prefix']}DATABASE_URL",
    }
    execute = script.find("gcloud run jobs execute")
    replace = script.find("gcloud run services replace")
    assert -1 < execute < replace, project.explain("deploy/deploy.sh", "migrate first")
    assert "--wait" in script[execute:replace], project.explain("deploy/deploy.sh", "--wait")


@pytest.mark.parametrize("case", cases(deploy_target="cloud_run"))
def test_cloud_run_worker_pool(case: Case, render_case: RenderCase) -> None:
    """With a queue, deploy.sh deploys a worker pool after the service, with the service's
    image and secrets and a shutdown timeout inside Cloud Run's 10 s."""
    project = render_case(case)
    ctx = context_of(case)
    prefix = ctx["env_prefix"]
    script = project.read("deploy/deploy.sh")
    explain = project.explain("deploy/deploy.sh")
    env_file = "deploy/cloudrun/worker.env.yaml"
    if not ctx["has_queue"]:
        assert "worker-pools" not in script, explain
        assert env_file not in project.files
        return
    deploy = script.index("gcloud run worker-pools deploy")
    assert script.index("gcloud run services replace") < deploy, explain
    command = script[deploy:].split("--quiet")[0]
    assert '--image "$image"' in command, explain
    assert f"--command python \\\n  --args=-m,{ctx['package_name']}.worker" in command, explain
    assert '--env-vars-file "${rendered}/worker.env.yaml"' in command, explain
    listed = re.search(r'--set-secrets "([^"]+)"', command)
    assert listed, explain
    secrets = dict(item.split("=", 1) for item in listed[1].split(","))
    service = yaml.safe_load(substituted(project.read("deploy/cloudrun/service.yaml")))
    service_refs = secret_refs(service["spec"]["template"]["spec"]["containers"][0])
    sentry = f"{prefix}SENTRY_DSN"  # the worker does not report to Sentry
    assert secrets == {
        name: f"{ref['name']}:{ref['key']}" for name, ref in service_refs.items() if name != sentry
    }
    env = yaml.safe_load(substituted(project.read(env_file)))
    assert env[f"{prefix}ENVIRONMENT"] == "staging", project.explain(env_file)
    shutdown = float(env[f"{prefix}WORKER_SHUTDOWN_TIMEOUT_SECONDS"])
    assert shutdown < CLOUD_RUN_SHUTDOWN_SECONDS - 1, project.explain(env_file)
    assert not [key for key in env if SECRET_NAME.search(key)], project.explain(env_file)
    assert "render worker.env.yaml" in script[:deploy], explain
    # The worker exports its job spans where the service exports its spans.
    tracing = {f"{prefix}OTLP_TRACES_ENDPOINT", f"{prefix}GCP_PROJECT_ID"}
    service_env = env_values(service["spec"]["template"]["spec"]["containers"][0])
    shared = {k: v for k, v in service_env.items() if k in tracing}
    assert shared.items() <= {k: str(v) for k, v in env.items()}.items(), project.explain(env_file)


# --- Compose on a single host ----------------------------------------------------------------


@pytest.mark.parametrize("case", cases(deploy_target="compose"))
def test_compose_production(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    prefix = ctx["env_prefix"]
    explain = project.explain(COMPOSE_PROD)
    services = yaml.safe_load(project.read(COMPOSE_PROD))["services"]
    wanted = {"app"} | ({"migrate"} if ctx["has_database"] else set())
    wanted |= {"worker"} if ctx["has_queue"] else set()
    assert set(services) == wanted, explain
    for name, service in services.items():
        assert "build" not in service, f"{name}: production runs the CI image"
        assert service["image"].startswith("${IMAGE:?"), explain
        bind_mounts = [
            v
            for v in service.get("volumes", [])
            if isinstance(v, str) and v.startswith((".", "/", "~"))
        ]
        assert not bind_mounts, f"{name}: bind mounts {bind_mounts}"
        assert service["read_only"] is True, explain
        assert service["cap_drop"] == ["ALL"], explain
        for entry in service["env_file"]:
            # The default resolves from deploy/compose/ to the repository root, where CI writes it.
            assert entry["path"].startswith("${ENV_FILE:-../../.env."), explain
            default = entry["path"].removeprefix("${ENV_FILE:-").removesuffix("}")
            resolved = (project.path / COMPOSE_PROD).parent.joinpath(default).resolve()
            assert resolved.parent == project.path.resolve(), explain
        environment = service.get("environment", {})
        assert not [key for key in environment if SECRET_NAME.search(key)], explain
    app = services["app"]
    assert app["restart"] == "unless-stopped", explain
    assert app["healthcheck"]["test"][-1] == "/readyz", explain
    grace = int(app["stop_grace_period"].rstrip("s"))
    assert grace > int(app["environment"][f"{prefix}GRACEFUL_SHUTDOWN_SECONDS"]), explain
    if ctx["has_database"]:
        migrate = services["migrate"]
        assert migrate["command"] == ["alembic", "upgrade", "head"], explain
        assert migrate["restart"] == "no", explain
        condition = app["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", explain
        assert app["environment"][f"{prefix}MAX_REPLICAS"] == "1", explain
    if ctx["has_queue"]:
        check_compose_worker(services, ctx, explain)
    if ctx["database"] == "sqlite":
        # A new named volume takes the owner of the image's directory: the app's user.
        chown = f"RUN mkdir /data && chown {IMAGE_UID}:{IMAGE_UID} /data"
        assert chown in project.read("Dockerfile").splitlines(), project.explain("Dockerfile")
        assert all("data:/data" in s.get("volumes", ["data:/data"]) for s in services.values())
    # The env files the deploy writes are never committed.
    ignored = project.read(".gitignore").splitlines()
    assert ".env.*" in ignored, project.explain(".gitignore")
    assert "!.env.example" in ignored, project.explain(".gitignore")


def check_compose_worker(services: dict[str, Any], ctx: dict[str, Any], explain: str) -> None:
    worker, app = services["worker"], services["app"]
    module = f"{ctx['package_name']}.worker"
    assert worker["command"] == ["python", "-m", module], explain
    assert worker["image"] == app["image"], explain
    assert worker["env_file"] == app["env_file"], explain
    assert worker["healthcheck"]["test"] == ["CMD", "python", "-m", f"{module}.probe"], explain
    assert worker["restart"] == "unless-stopped", explain
    assert "ports" not in worker, explain
    shutdown = float(worker["environment"][f"{ctx['env_prefix']}WORKER_SHUTDOWN_TIMEOUT_SECONDS"])
    assert int(worker["stop_grace_period"].rstrip("s")) > shutdown, explain
    if ctx["has_database"]:
        condition = worker["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", explain
    endpoint = f"{ctx['env_prefix']}OTLP_TRACES_ENDPOINT"
    assert worker["environment"].get(endpoint) == app["environment"].get(endpoint), explain


# --- CI/CD -----------------------------------------------------------------------------------

DB_SERVICE_IMAGES = {"postgresql": "postgres:17", "mysql": "mariadb:11"}
BROKER_SERVICE_IMAGES = {"redis": "redis:7", "rabbitmq": "rabbitmq:4"}


def broker_of(ctx: dict[str, Any]) -> str | None:
    """The broker the rendered service's tests need, if it has a queue."""
    if not ctx.get("has_queue"):
        return None
    return "redis" if ctx.get("needs_redis") else "rabbitmq"


@pytest.mark.parametrize("case", ALL_CASES)
def test_ci_tests_run_against_the_database_and_broker(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    image = DB_SERVICE_IMAGES.get(ctx["database"])
    broker = broker_of(ctx)
    url_name = f"{ctx['env_prefix']}DATABASE_URL"
    if ctx["ci_provider"] == "github":
        job = yaml.safe_load(project.read(".github/workflows/ci.yml"))["jobs"]["test"]
        images = [service["image"] for service in job.get("services", {}).values()]
        env = job.get("env", {})
        about = ".github/workflows/ci.yml"
    else:
        job = yaml.safe_load(project.read(".gitlab/ci/test.yml"))["test"]
        images = [service["name"] for service in job.get("services", [])]
        env = job.get("variables", {})
        about = ".gitlab/ci/test.yml"
        if broker:
            # GitLab services answer on their alias, not localhost: the URL says where.
            assert env[f"{ctx['env_prefix']}BROKER_URL"].split("://")[1], project.explain(about)
    explain = project.explain(about)
    expected = [name for name in (image, broker and BROKER_SERVICE_IMAGES[broker]) if name]
    assert images == expected, explain
    if image:
        scheme = {"postgresql": "postgresql+asyncpg://", "mysql": "mysql+asyncmy://"}
        assert env[url_name].startswith(scheme[ctx["database"]]), explain
    else:
        assert url_name not in env, explain


def github_jobs(project: Rendered, name: str) -> dict[str, Any]:
    workflow = yaml.safe_load(project.read(name))
    assert workflow["permissions"] == {}, project.explain(name, "top-level permissions: {}")
    assert "concurrency" in workflow, project.explain(name, "no concurrency group")
    jobs: dict[str, Any] = workflow["jobs"]
    for job_name, job in jobs.items():
        assert "permissions" in job, project.explain(name, f"{job_name}: no permissions")
        assert job.get("timeout-minutes"), project.explain(name, f"{job_name}: no timeout")
    return jobs


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def iter_uses(project: Rendered) -> Iterator[tuple[str, str, str]]:
    for name in project.files:
        if name.startswith(".github/workflows/"):
            for line in project.read(name).splitlines():
                if match := re.match(r"^\s*-?\s*uses:\s*(\S+)\s*(#.*)?$", line):
                    yield name, match.group(1), match.group(2) or ""


@pytest.mark.parametrize("case", cases(ci_provider="github"))
def test_github_actions_pinned_by_sha(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    for name, action, comment in iter_uses(project):
        assert PINNED_ACTION.match(action), project.explain(name, f"not pinned: {action}")
        assert re.match(r"#\s*v\d+\.\d+\.\d+", comment), project.explain(name, action)


@pytest.mark.parametrize("case", cases(ci_provider="github"))
def test_github_deploy_workflow(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    name = ".github/workflows/deploy.yml"
    jobs = github_jobs(project, name)
    explain = project.explain(name)
    assert list(jobs) == ["build", "staging", "production"], explain
    build = steps_text(jobs["build"])
    for command in ("docker build", "docker push", "GITHUB_SHA"):
        assert command in build, explain
    assert jobs["staging"]["needs"] == "build", explain
    assert set(jobs["production"]["needs"]) == {"build", "staging"}, explain
    for environment in ("staging", "production"):
        job = jobs[environment]
        assert job["environment"] == environment, explain
        assert f"deploy/deploy.sh {environment}" in steps_text(job), explain
        assert "write" not in {v for k, v in job["permissions"].items() if k != "id-token"}, explain
    uses_auth = {
        job_name
        for job_name, job in jobs.items()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("google-github-actions/auth@")
    }
    with_id_token = {
        job_name for job_name, job in jobs.items() if job["permissions"].get("id-token") == "write"
    }
    assert uses_auth == with_id_token, explain
    if ctx["deploy_target"] == "cloud_run":
        assert uses_auth == set(jobs), "Workload Identity Federation in every job"
    else:
        assert jobs["build"]["permissions"]["packages"] == "write", explain
    assert workflow_on(project, name) == {"push", "workflow_dispatch"}, explain


def workflow_on(project: Rendered, name: str) -> set[str]:
    # PyYAML reads the `on:` key as the boolean True.
    workflow = yaml.safe_load(project.read(name))
    triggers = workflow.get("on", workflow.get(True))
    return set(triggers)


@pytest.mark.parametrize("case", cases(ci_provider="github", template_updates=True))
def test_github_template_update_workflow(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    name = ".github/workflows/template-update.yml"
    jobs = github_jobs(project, name)
    explain = project.explain(name)
    assert "schedule" in workflow_on(project, name), explain
    (job,) = jobs.values()
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}, explain
    script = steps_text(job)
    # The wrapper runs copier update and fails on conflicts (tests/test_update.py proves it);
    # --trust only when a human ticks it for an update that crosses a migration.
    assert 'scripts/update-from-template.sh --conflict rej "$@"' in script, explain
    assert 'if [ "$TRUST" = "true" ]; then set -- --trust; fi' in script, explain
    workflow = yaml.safe_load(project.read(name))
    trust = workflow.get("on", workflow.get(True))["workflow_dispatch"]["inputs"]["trust"]
    assert trust["type"] == "boolean", explain
    assert trust["default"] is False, explain
    assert "gh pr create" in script, explain
    assert script.index("update-from-template.sh") < script.index("gh pr create"), explain


@pytest.mark.parametrize("case", cases(ci_provider="gitlab"))
def test_gitlab_pipeline(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    root = yaml.safe_load(project.read(".gitlab-ci.yml"))
    explain = project.explain(".gitlab-ci.yml")
    assert root["stages"] == ["test", "build", "deploy", "maintenance"], explain
    assert root["include"] == [{"local": ".gitlab/ci/*.yml"}], explain
    assert root["variables"]["IMAGE"].endswith(":$CI_COMMIT_SHA"), explain
    deploy = yaml.safe_load(project.read(".gitlab/ci/deploy.yml"))
    explain = project.explain(".gitlab/ci/deploy.yml")
    assert deploy["build"]["stage"] == "build", explain
    call = 'deploy/deploy.sh "$CI_ENVIRONMENT_NAME" "$IMAGE"'
    assert [line for line in deploy[".deploy"]["script"] if line.endswith(call)], explain
    assert deploy["deploy-staging"]["environment"]["name"] == "staging", explain
    assert deploy["deploy-production"]["environment"]["name"] == "production", explain
    assert "deploy-staging" in deploy["deploy-production"]["needs"], explain
    assert deploy["deploy-production"]["rules"][-1]["when"] == "manual", explain
    assert deploy[".deploy"]["interruptible"] is False, explain
    if ctx["deploy_target"] == "cloud_run":
        assert "id_tokens" in deploy[".gcloud"], "Workload Identity Federation, no key file"
    if ctx["template_updates"]:
        job = yaml.safe_load(project.read(".gitlab/ci/template-update.yml"))["template-update"]
        script = "\n".join(job["script"])
        explain = project.explain(".gitlab/ci/template-update.yml")
        assert 'scripts/update-from-template.sh --conflict rej "$@"' in script, explain
        assert '"${TEMPLATE_UPDATE_TRUST:-}" = "true"' in script, explain
        assert "merge_request.create" in script, explain
        assert job["rules"] == [
            {"if": '$CI_PIPELINE_SOURCE == "schedule" && $TEMPLATE_UPDATE == "true"'}
        ], explain


def test_knative_schema_is_available() -> None:
    """The Knative schema the Cloud Run tests validate against (a copy in tests/schemas)."""
    assert KNATIVE_SCHEMA.is_file(), f"missing {KNATIVE_SCHEMA}"
    assert Path(k8s_tools.helm()).is_file()
    assert Path(k8s_tools.kubectl()).is_file()
