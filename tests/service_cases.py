"""The representative services of test_service.py and test_service_load.py, and how they boot.

Each case is rendered and installed once per test process (the `rendered_service` fixture) and
started as its Dockerfile starts it: uvicorn through `python -m <package>`, gunicorn through
`gunicorn --config gunicorn.conf.py`, in production with a real secret, on a free loopback port.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from process import Server, Servers, free_port
from rendering import BIN, Rendered

GRACEFUL_SECONDS = 10
EXIT_WITHIN_SECONDS = 12.0
READY_WITHIN_SECONDS = 30.0


@dataclass(frozen=True)
class Case:
    python_version: str
    server: str
    api_versioning: str
    web_concurrency: int
    # An import package named apart from the project (the build backend must still find it).
    package_name: str | None = None

    @property
    def id(self) -> str:
        return f"py{self.python_version}-{self.server}-{self.api_versioning}"

    @property
    def answers(self) -> dict[str, str]:
        # The serving contract does not depend on the database; test_database.py boots services
        # with each database.
        answers = {
            "python_version": self.python_version,
            "server": self.server,
            "api_versioning": self.api_versioning,
            "database": "none",
        }
        return answers | ({"package_name": self.package_name} if self.package_name else {})


# Every python_version x server pair, each versioning strategy, uvicorn with 1 and 2 workers.
CASES = [
    Case("3.12", "uvicorn", "url_path", web_concurrency=1),
    Case("3.12", "gunicorn", "header", web_concurrency=2),
    Case("3.13", "uvicorn", "mounted", web_concurrency=2),
    Case("3.13", "gunicorn", "url_path", web_concurrency=2, package_name="billing_core"),
]


@dataclass
class Project:
    case: Case
    rendered: Rendered

    @property
    def path(self) -> Path:
        return self.rendered.path

    @property
    def package(self) -> str:
        return self.rendered.package

    def timings(self) -> str:
        timings = self.rendered.timings.items()
        steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in timings)
        return f"[{self.case.id}] {steps}"


def server_env(project: Project, port: int, **overrides: str) -> dict[str, str]:
    """Production settings on `port`; `overrides` named without the prefix (WEB_CONCURRENCY as
    it is)."""
    rendered = project.rendered
    concurrency = overrides.pop("WEB_CONCURRENCY", str(project.case.web_concurrency))
    values = {
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_hex(20),  # 40 characters
        "API_KEY_PEPPER": secrets.token_hex(20),  # read with API keys, ignored without
        "GRACEFUL_SHUTDOWN_SECONDS": str(GRACEFUL_SECONDS),
        "LOG_LEVEL": "INFO",
    }
    settings = rendered.settings(
        **{**values, **overrides},
    )
    unprefixed = {"WEB_CONCURRENCY": concurrency, "PYTHONUNBUFFERED": "1"}
    return {**rendered.uv_env(), **settings, **unprefixed}


def boot(project: Project, servers: Servers, **env: str) -> tuple[Server, float]:
    """Start the service the way its Dockerfile does; return it and its boot-to-ready time.

    `env`: settings to override, named without the prefix (WEB_CONCURRENCY as it is).
    """
    port = free_port()
    if project.case.server == "gunicorn":
        command = ["run", "--locked", "gunicorn", "--config", "gunicorn.conf.py"]
    else:
        command = ["run", "--locked", "python", "-m", project.package]
    env = server_env(project, port, **env)
    server = servers.start([BIN / "uv", *command], cwd=project.path, env=env, port=port)
    ready = server.wait_ready("/readyz", timeout=READY_WITHIN_SECONDS)
    # /readyz answers as soon as one worker is up; the tests need every worker started.
    workers = int(env["WEB_CONCURRENCY"])
    server.wait_until(
        lambda: len(startup_records(server)) >= workers,
        timeout=READY_WITHIN_SECONDS - ready,
        about=f"{workers} worker(s) to log their startup",
    )
    all_ready = time.monotonic() - server.started_at
    print(
        f"[{project.case.id}] boot to ready: {ready:.2f} s (/readyz 200),"
        f" {all_ready:.2f} s (all {workers} worker(s) started)"
    )
    return server, ready


def startup_records(server: Server) -> list[dict[str, Any]]:
    return [record for record in server.json_lines() if record.get("event") == "startup"]
