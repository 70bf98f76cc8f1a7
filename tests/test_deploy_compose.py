"""Compose on a single host: deploy/compose/compose.prod.yaml's production rules.

(test_render.py validates the file against the compose-spec.)
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from deploy_checks import (
    IMAGE_UID,
    SECRET_NAME,
    check_compose_healthcheck,
    check_shutdown_budget,
)
from matrix import Case, RenderCase, cases, context_of

COMPOSE_PROD = "deploy/compose/compose.prod.yaml"


@pytest.mark.parametrize("case", cases(deploy_target="compose"))
def test_compose_production(case: Case, render_case: RenderCase) -> None:
    project = render_case(case)
    ctx = context_of(case)
    prefix = ctx["env_prefix"]
    explain = project.explain(COMPOSE_PROD)
    services = yaml.safe_load(project.read(COMPOSE_PROD))["services"]
    wanted = {"app"} | ({"migrate"} if ctx["has_database"] else set())
    wanted |= {"worker", "scheduler"} if ctx["has_queue"] else set()
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
    check_compose_healthcheck(app["healthcheck"])
    grace = int(app["stop_grace_period"].rstrip("s"))
    check_shutdown_budget(app["environment"], prefix, grace)
    if ctx["has_database"]:
        migrate = services["migrate"]
        assert migrate["command"] == ["alembic", "upgrade", "head"], explain
        assert migrate["restart"] == "no", explain
        condition = app["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", explain
        assert app["environment"][f"{prefix}MAX_REPLICAS"] == "1", explain
        # `docker compose up` stops the old container before it starts the new one: no surge.
        assert app["environment"][f"{prefix}MAX_SURGE"] == "0", explain
        workers = "1" if ctx["has_queue"] else None
        assert app["environment"].get(f"{prefix}MAX_WORKER_REPLICAS") == workers, explain
        surge = "0" if ctx["has_queue"] else None
        assert app["environment"].get(f"{prefix}MAX_WORKER_SURGE") == surge, explain
    if ctx["has_queue"]:
        check_compose_worker(services, ctx, explain)
        check_compose_scheduler(services, ctx, explain)
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


def check_compose_scheduler(services: dict[str, Any], ctx: dict[str, Any], explain: str) -> None:
    """One scheduler container: the image, env file (secrets, Sentry's DSN) and tracing of the
    worker, the scheduler's command, the worker's heartbeat healthcheck, a short grace period."""
    scheduler, worker = services["scheduler"], services["worker"]
    module = f"{ctx['package_name']}.worker"
    print(f"compose scheduler: {scheduler}")
    assert scheduler["command"] == ["python", "-m", f"{module}.scheduler"], explain
    assert scheduler["deploy"]["replicas"] == 1, explain
    for key in ("image", "env_file", "healthcheck", "restart", "read_only", "cap_drop"):
        assert scheduler[key] == worker[key], f"{key}: {explain}"
    assert "ports" not in scheduler, explain
    assert int(scheduler["stop_grace_period"].rstrip("s")) <= 15, explain  # it runs no job
    endpoint = f"{ctx['env_prefix']}OTLP_TRACES_ENDPOINT"
    environment = scheduler.get("environment", {})
    assert environment.get(endpoint) == worker["environment"].get(endpoint), explain


@pytest.mark.parametrize("case", cases(has_queue=True, deploy_target="compose"))
def test_compose_local_scheduler(case: Case, render_case: RenderCase) -> None:
    """The local stack runs one scheduler beside the worker, healthy by the worker's probe."""
    project = render_case(case)
    ctx = context_of(case)
    services = yaml.safe_load(project.read("compose.yaml"))["services"]
    explain = project.explain("compose.yaml")
    scheduler, worker = services["scheduler"], services["worker"]
    module = f"{ctx['package_name']}.worker"
    assert scheduler["command"] == ["python", "-m", f"{module}.scheduler"], explain
    assert scheduler["healthcheck"]["test"] == worker["healthcheck"]["test"], explain
    assert scheduler["image"] == worker["image"], explain
    condition = scheduler["depends_on"][ctx["queue_broker"]]["condition"]
    assert condition == "service_healthy", explain
