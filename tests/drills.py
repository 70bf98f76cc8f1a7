"""Drill harness: a rendered service started the way its deploy files start it, against the real
services on this machine.

`prepare()` takes a service from the `rendered_service` fixture (rendered, installed, with an empty
database on the real server: PostgreSQL 5432, MariaDB 3306, or an SQLite file) and migrates it.
`DrillService.start()` then runs the image's `CMD` (read from the rendered Dockerfile) with the
production environment of the chosen deploy target (read from the rendered deploy files: the
Kustomize production overlay, the Helm chart with values-production.yaml, the Cloud Run service
or the compose production file), a real secret, the local database and broker, and a free
loopback port. What a drill overrides it says, and the figures it prints show.

A service with OIDC authentication verifies tokens of a local issuer (scripts/local_issuer.py:
the render's own tests/support/issuer.py, run in its virtualenv on a loopback port), and every
request a drill sends carries one, holding every scope of the service's features
(`DrillService.credential`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import httpx
import k8s_tools
import yaml
from deploy_checks import env_values, load_all, one
from local_issuer import Issuer, issuer_for
from process import Server, Servers, free_port
from provision import ServiceFactory
from rendering import Rendered

READY_WITHIN_SECONDS = 60.0


@dataclass(frozen=True)
class DrillCase:
    """A representative render: an id for the output and the answers that differ from defaults."""

    id: str
    answers: dict[str, Any]
    settings: dict[str, str] = field(default_factory=dict)  # without the prefix


def image_command(project: Rendered) -> list[str]:
    """The Dockerfile's exec-form `CMD` (the last one), its program taken from the project's
    virtual environment as the image's PATH does."""
    commands = re.findall(r"^CMD (\[.*\])\s*$", project.read("Dockerfile"), re.MULTILINE)
    assert commands, project.explain("Dockerfile", "no exec-form CMD")
    argv: list[str] = json.loads(commands[-1])
    return [str(project.venv_bin(argv[0])), *argv[1:]]


def _config_map(manifests: str) -> dict[str, str]:
    data: dict[str, str] = one(load_all(manifests), "ConfigMap")["data"]
    return data


def production_env(project: Rendered) -> dict[str, str]:
    """The non-secret environment the deploy target gives the API in production."""
    target = project.answers["deploy_target"]
    if target == "kubernetes" and project.answers["k8s_packaging"] == "kustomize":
        overlay = "deploy/k8s/overlays/production"
        return _config_map(project.run(k8s_tools.kubectl(), "kustomize", overlay).stdout)
    if target == "kubernetes":
        chart = project.run(
            k8s_tools.helm(), "template", "svc", "deploy/helm",
            "-f", "deploy/helm/values-production.yaml",
        ).stdout  # fmt: skip
        return _config_map(chart)
    if target == "cloud_run":
        service = yaml.safe_load(project.read("deploy/cloudrun/service.yaml"))
        return env_values(service["spec"]["template"]["spec"]["containers"][0])
    compose = yaml.safe_load(project.read("deploy/compose/compose.prod.yaml"))
    environment = compose["services"]["app"].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {name: str(value) for name, value in environment.items() if value is not None}


@dataclass
class DrillService:
    """A rendered, installed and migrated service, ready to be started as production runs it."""

    case: DrillCase
    rendered: Rendered
    issuer: Issuer | None = None  # with OIDC: where its tokens come from

    @property
    def credential(self) -> dict[str, str]:
        """The headers every drill request sends: a token, with OIDC; none without."""
        return self.issuer.headers if self.issuer else {}

    @property
    def package(self) -> str:
        return self.rendered.package

    @property
    def api_path(self) -> str:
        """An API endpoint that does real work: the items list when there is one."""
        version = "/v1" if self.rendered.answers["api_versioning"] != "header" else ""
        has_items = self.rendered.database_url and self.rendered.answers.get("example_api", True)
        return f"{version}/items?limit=20" if has_items else f"{version}/about"

    @cached_property
    def deploy_env(self) -> dict[str, str]:
        return production_env(self.rendered)

    def base_env(self) -> dict[str, str]:
        """The secrets and local dependencies, without the deploy target's settings."""
        settings = self.rendered.settings(
            ENVIRONMENT="production",
            SECRET_KEY=secrets.token_urlsafe(48),
            API_KEY_PEPPER=secrets.token_urlsafe(48),  # read with API keys, ignored without
            # Spans go nowhere: there is no collector here, and drills measure the service.
            OTLP_TRACES_ENDPOINT="",
            **(self.issuer.settings if self.issuer else {}),
            **self.case.settings,
        )
        return {**settings, "PYTHONUNBUFFERED": "1"}

    def migrate(self) -> None:
        self.rendered.uv(
            "run", "--locked", "alembic", "upgrade", "heads", env=self.base_env(),
            about="alembic.ini",
        )  # fmt: skip

    def env(self, port: int, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """The target's production settings, the secrets and local dependencies, a port, then
        `overrides` (environment variables, prefixed)."""
        return {
            **self.rendered.uv_env(),
            **self.deploy_env,
            **self.base_env(),
            # Each server counts its rate limits afresh (ignored without them): a drill's load
            # must not use up the next drill's quota.
            **self.rendered.settings(
                HOST="127.0.0.1", PORT=str(port), REDIS_KEY_PREFIX=f"drill-{port}-{os.getpid()}:"
            ),
            **(overrides or {}),
        }

    def start(self, servers: Servers, overrides: Mapping[str, str] | None = None) -> Server:
        """Start the image's command with the target's production settings; wait until ready."""
        port = free_port()
        command, env = image_command(self.rendered), self.env(port, overrides)
        server = servers.start(command, cwd=self.rendered.path, env=env, port=port)
        server.wait_ready("/readyz", timeout=READY_WITHIN_SECONDS)
        return server

    def start_worker(self, servers: Servers) -> Server:
        """Start a queue worker as the deploy files do (same image and settings)."""
        port = free_port()  # the worker listens on nothing; the port only names its log files
        command = worker_command(self.rendered)
        return servers.start(command, cwd=self.rendered.path, env=self.env(port), port=port)

    def setting(self, name: str, default: str) -> str:
        """A setting as the deploy target gives it (WEB_CONCURRENCY has no prefix)."""
        env = self.deploy_env
        return env.get(name, env.get(self.rendered.env_prefix + name, default))

    def seed(self, server: Server, count: int = 25) -> None:
        """Create `count` items through the API, so that list pages do real work."""
        if not self.api_path.split("?")[0].endswith("/items"):
            return
        url = server.url + self.api_path.split("?")[0]
        batch = secrets.token_hex(3)  # names are unique: each drill seeds its own
        with httpx.Client(timeout=10, headers=self.credential) as client:
            for number in range(count):
                item = {"name": f"drill {batch} {number}", "price_cents": number}
                response = client.post(url, json=item)
                assert response.status_code in {200, 201}, f"seeding: {response.text}"


@contextmanager
def prepare(case: DrillCase, rendered_service: ServiceFactory) -> Iterator[DrillService]:
    """The case's service (rendered, installed, its database created), migrated: ready to start
    (with OIDC, its issuer running until the context ends)."""
    rendered = rendered_service({"project_name": f"Drill {case.id}", **case.answers})
    with issuer_for(rendered) as issuer:
        service = DrillService(case, rendered, issuer)
        if rendered.database_url:
            service.migrate()
        yield service


def worker_command(project: Rendered) -> list[str]:
    """The queue worker's command on every target: the image's Python, `-m <package>.worker`."""
    return [str(project.venv_bin()), "-m", f"{project.package}.worker"]
