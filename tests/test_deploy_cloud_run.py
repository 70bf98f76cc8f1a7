"""Cloud Run: the Knative Service, the migration Job and the worker pool.

check-jsonschema with the Knative Service schema (tests/schemas), before and after deploy.sh's
placeholder substitution, plus the Cloud Run rules the schema cannot see.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from deploy_checks import (
    KNATIVE_SCHEMA,
    SECRET_NAME,
    budget_of,
    check_connection_budget,
    check_liveness,
    check_shutdown_budget,
    env_values,
    secret_refs,
    secret_settings,
)
from matrix import Case, RenderCase, cases, context_of
from rendering import BIN

CLOUD_RUN_SHUTDOWN_SECONDS = 10  # Cloud Run's SIGTERM-to-SIGKILL budget
CLOUD_RUN_PLACEHOLDERS = {
    "${IMAGE}": "europe-docker.pkg.dev/p/r/svc:0123abc",
    "${ENVIRONMENT}": "staging",
    "${SERVICE_ACCOUNT}": "svc@p.iam.gserviceaccount.com",
    "${PROJECT_ID}": "p",  # tracing=cloud_trace only: the project of the traces
    # OIDC only: the environment's issuer and this API's audience (CI variables).
    "${OIDC_ISSUER}": "https://issuer.example.com/realms/svc",
    "${OIDC_AUDIENCE}": "svc-api",
}
OIDC_PLACEHOLDERS = ("${OIDC_ISSUER}", "${OIDC_AUDIENCE}")
# The settings every process checks at start-up (settings refuse an empty issuer or audience
# outside development and test): the service, its migration Job and its worker pools alike.
OIDC_SHARED = ("OIDC_ISSUER", "OIDC_AUDIENCE")


def worker_pools(script: str) -> dict[str, tuple[str, int]]:
    """The worker pools deploy.sh deploys (`worker_pool NAME MODULE INSTANCES` lines): each
    name's module and instance count."""
    calls = re.findall(r"^worker_pool (\S+) (\S+) (\d+)$", script, re.MULTILINE)
    return {name: (module, int(instances)) for name, module, instances in calls}


def worker_instances(script: str) -> int | None:
    """The queue worker pool's instance count in deploy.sh, if it deploys one."""
    pools = {name.rsplit("-", 1)[-1]: count for name, (_, count) in worker_pools(script).items()}
    return pools.get("worker")


def oidc_of(env: dict[str, object], prefix: str) -> dict[str, str]:
    """The OIDC issuer and audience among `env`'s settings."""
    return {f"{prefix}{n}": str(env[f"{prefix}{n}"]) for n in OIDC_SHARED if f"{prefix}{n}" in env}


def expected_placeholders(ctx: dict[str, Any]) -> set[str]:
    """The placeholders service.yaml has for these answers."""
    expected = set(CLOUD_RUN_PLACEHOLDERS)
    if ctx["tracing"] != "cloud_trace":
        expected.discard("${PROJECT_ID}")
    if not ctx["has_oidc"]:
        expected -= set(OIDC_PLACEHOLDERS)
    return expected


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
    assert placeholders == expected_placeholders(ctx), placeholders
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

    # Probes: startup on /startupz (no dependency: an instance starting during an outage starts),
    # liveness on /livez with room for a busy event loop.
    assert container["startupProbe"]["httpGet"]["path"] == "/startupz", explain
    check_liveness(container["livenessProbe"])
    assert "readinessProbe" not in container, explain
    for probe in ("startupProbe", "livenessProbe"):
        settings = container[probe]
        assert settings["httpGet"]["port"] == port["containerPort"], explain
        assert settings["timeoutSeconds"] <= settings["periodSeconds"], explain

    # CPU and memory, and one worker per vCPU.
    limits = container["resources"]["limits"]
    assert {"cpu", "memory"} <= set(limits), explain
    assert int(env["WEB_CONCURRENCY"]) == int(float(limits["cpu"])), explain

    # Shutdown within Cloud Run's 10 s (gunicorn's graceful_timeout is the same budget).
    check_shutdown_budget(env, prefix, CLOUD_RUN_SHUTDOWN_SECONDS)

    # Scaling and billing settings.
    assert int(annotations["autoscaling.knative.dev/minScale"]) >= 0, explain
    max_scale = int(annotations["autoscaling.knative.dev/maxScale"])
    throttled = annotations["run.googleapis.com/cpu-throttling"]
    assert throttled == ("false" if ctx["cloud_run_cpu_always_allocated"] else "true"), explain
    if ctx["has_database"]:
        instances = worker_instances(project.read("deploy/deploy.sh"))
        # maxScale is per revision: during a deploy the old revision's instances, up to
        # maxScale, drain beside the new one's; an old worker instance beside the new one.
        check_connection_budget(
            env, ctx, max_scale, instances, surge=max_scale, worker_surge=instances
        )
    else:
        assert f"{prefix}MAX_REPLICAS" not in env, explain

    # Secrets from Secret Manager, never values.
    refs = secret_refs(container)
    assert set(refs) == secret_settings(ctx), explain
    assert not [key for key in env if SECRET_NAME.search(key)], explain


@pytest.mark.parametrize("case", cases(deploy_target="cloud_run"))
def test_cloud_run_placeholders_are_substituted(case: Case, render_case: RenderCase) -> None:
    """deploy.sh's sed substitutes every placeholder of the YAML files, and stops before
    deploying anything without the OIDC issuer and audience (the service would not start)."""
    project = render_case(case)
    ctx = context_of(case)
    prefix = ctx["env_prefix"]
    script = project.read("deploy/deploy.sh")
    yaml_files = [name for name in project.files if re.match(r"deploy/cloudrun/.*\.yaml$", name)]
    placeholders = {
        found for name in yaml_files for found in re.findall(r"\$\{[A-Z_]+\}", project.read(name))
    }
    placeholders.discard("${_IMAGE}")  # cloudbuild.yaml's substitution, Cloud Build's own
    unsubstituted = [name for name in placeholders if f'-e "s|\\{name}|' not in script]
    assert not unsubstituted, project.explain("deploy/deploy.sh", f"no sed for {unsubstituted}")
    assert (set(OIDC_PLACEHOLDERS) <= placeholders) == ctx["has_oidc"], placeholders
    for placeholder in set(OIDC_PLACEHOLDERS) & placeholders:
        variable = placeholder.strip("${}")
        required = f"${{{variable}:?set {variable}"
        assert required in script, project.explain("deploy/deploy.sh", required)
        assert script.index(required) < script.index("\ngcloud "), "checked before deploying"
    service = yaml.safe_load(substituted(project.read("deploy/cloudrun/service.yaml")))
    oidc = oidc_of(env_values(service["spec"]["template"]["spec"]["containers"][0]), prefix)
    assert len(oidc) == (len(OIDC_SHARED) if ctx["has_oidc"] else 0), oidc
    assert all(oidc.values()), oidc


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
    # The job checks the connection budget at start-up too, with the service's numbers.
    service_env = env_values(service["spec"]["template"]["spec"]["containers"][0])
    job_budget = budget_of(env_values(container), ctx["env_prefix"])
    default = {"WEB_CONCURRENCY": "1"}  # the job's own default: it runs no server
    assert default | job_budget == budget_of(service_env, ctx["env_prefix"]), explain
    oidc = oidc_of(env_values(container), ctx["env_prefix"])
    assert oidc == oidc_of(service_env, ctx["env_prefix"]), explain
    pepper = ["API_KEY_PEPPER"] if ctx["has_api_keys"] else []  # the placeholder check reads it
    assert set(secret_refs(container)) == {
        f"{ctx['env_prefix']}{name}" for name in ["SECRET_KEY", "DATABASE_URL", *pepper]
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
    assert '--command python \\\n    --args="-m,$2"' in command, explain
    assert '--instances "$3"' in command, explain
    assert '--env-vars-file "${rendered}/worker.env.yaml"' in command, explain
    # The worker, and exactly one scheduler, both deployed after the service.
    slug, package = ctx["project_slug"], ctx["package_name"]
    pools = worker_pools(script)
    print(f"worker pools: {pools}")
    assert pools == {
        f"{slug}-worker": (f"{package}.worker", 1),
        f"{slug}-scheduler": (f"{package}.worker.scheduler", 1),
    }, explain
    assert script.index("gcloud run services replace") < script.index("\nworker_pool "), explain
    # The service's secrets, Sentry's DSN included: failed jobs are reported from the worker.
    listed = re.search(r'--set-secrets "([^"]+)"', command)
    assert listed, explain
    secrets = dict(item.split("=", 1) for item in listed[1].split(","))
    service = yaml.safe_load(substituted(project.read("deploy/cloudrun/service.yaml")))
    service_refs = secret_refs(service["spec"]["template"]["spec"]["containers"][0])
    assert secrets == {name: f"{ref['name']}:{ref['key']}" for name, ref in service_refs.items()}
    assert (f"{prefix}SENTRY_DSN" in secrets) == ctx["sentry"], explain
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
    # With a database, the worker checks the connection budget with the service's numbers.
    assert oidc_of(env, prefix) == oidc_of(service_env, prefix), project.explain(env_file)
    if ctx["has_database"]:
        assert budget_of(env, prefix) == budget_of(service_env, prefix), project.explain(env_file)
