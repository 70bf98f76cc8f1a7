"""Each database choice renders a service that works against the real server on this machine.

For PostgreSQL (5432), MariaDB (3306) and SQLite (a file): the rendered service installs, its own
suite passes against the real database (one database per xdist worker, built by its migrations),
and the Alembic command line round-trips (`upgrade head`, `check` for autogenerate drift,
`downgrade base`, `upgrade head`). A booted PostgreSQL service shows readiness following the
database: 503 within one check timeout when its database disappears, /livez still 200, and 200
again once the database is back.

Suite times are printed (run with `-s` or `-rA`).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from databases import admin
from local_issuer import issuer_for
from process import Servers, free_port
from provision import ServiceFactory
from rendering import BIN, Rendered

pytestmark = pytest.mark.slow

READINESS_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class DatabaseCase:
    database: str
    python_version: str
    api_versioning: str
    auth: str


# Each authentication in a suite: API keys in each server database (PostgreSQL with OIDC too,
# either credential on the same routes), OIDC tokens against the suite's local issuer.
CASES = [
    DatabaseCase("postgresql", "3.13", "url_path", "oidc_and_api_key"),
    DatabaseCase("mysql", "3.12", "header", "api_key"),
    DatabaseCase("sqlite", "3.13", "mounted", "oidc"),
]


@dataclass
class Project:
    case: DatabaseCase
    rendered: Rendered

    def env(self, **settings: str) -> dict[str, str]:
        """Its database, a test environment with a real secret, `settings` (without prefix)."""
        defaults = {
            "ENVIRONMENT": "test",
            "SECRET_KEY": secrets.token_hex(20),
            "API_KEY_PEPPER": secrets.token_hex(20),  # read with API keys, ignored without
        }
        return self.rendered.settings(**(defaults | settings))

    def alembic(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return self.rendered.uv(
            "run", "--locked", "alembic", *argv, env=self.env(), about="alembic.ini"
        )


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.database)
def project(request: pytest.FixtureRequest, rendered_service: ServiceFactory) -> Project:
    case: DatabaseCase = request.param
    answers = {
        "project_name": f"Ledger {case.database.capitalize()}",
        "database": case.database,
        "python_version": case.python_version,
        "api_versioning": case.api_versioning,
        "auth": case.auth,
    }
    return Project(case=case, rendered=rendered_service(answers))


@pytest.fixture
def issuer_settings(project: Project) -> Iterator[dict[str, str]]:
    """With OIDC, production requires an issuer: the render's own, on loopback."""
    with issuer_for(project.rendered) as issuer:
        yield issuer.settings if issuer else {}


def test_own_suite_passes_against_the_real_database(project: Project) -> None:
    started = time.monotonic()
    project.rendered.own_suite(env=project.env(), about="tests/db_fixtures.py")
    print(f"[{project.case.database}] own suite: {time.monotonic() - started:.1f} s")


def test_migrations_round_trip_on_the_command_line(project: Project) -> None:
    project.alembic("upgrade", "head")
    # `alembic check` fails when autogenerate finds a difference between models and database.
    project.alembic("check")
    project.alembic("downgrade", "base")
    project.alembic("upgrade", "head")
    current = project.alembic("current").stdout
    assert "(head)" in current, project.rendered.explain("alembic.ini", current)


# PostgreSQL's DROP DATABASE ... WITH (FORCE) cuts a live service off for real, and CREATE
# DATABASE brings it back: the cleanest outage to stage on this machine.
@pytest.mark.parametrize("project", [CASES[0]], indirect=True, ids=["postgresql"])
def test_readiness_follows_the_database(
    project: Project, servers: Servers, issuer_settings: dict[str, str]
) -> None:
    project.alembic("upgrade", "head")
    port = free_port()
    env = project.env(
        PORT=str(port),
        READINESS_TIMEOUT_SECONDS=str(READINESS_TIMEOUT_SECONDS),
        ENVIRONMENT="production",
        # The per-check body is off outside development unless asked for.
        READINESS_DETAILS="true",
        **issuer_settings,
    )
    server = servers.start(
        [BIN / "uv", "run", "--locked", "python", "-m", project.rendered.package],
        cwd=project.rendered.path,
        env={**project.rendered.uv_env(), **env},
        port=port,
    )
    server.wait_ready("/readyz", timeout=30)
    name = project.rendered.database_name
    assert name, project.rendered.explain(None, "no database was created")

    admin(project.case.database, f'DROP DATABASE "{name}" WITH (FORCE)')
    dropped = time.monotonic()
    server.wait_until(
        lambda: server.get("/readyz").status_code == 503, timeout=10, about="/readyz to turn 503"
    )
    turned = time.monotonic() - dropped
    body = server.get("/readyz").json()
    assert body["checks"]["database"]["status"] in {"fail", "timeout"}, body
    assert server.get("/livez").status_code == 200
    # One check, at most one timeout long, sees the database gone.
    assert turned < READINESS_TIMEOUT_SECONDS + 1.0, f"took {turned:.2f} s"

    admin(project.case.database, f'CREATE DATABASE "{name}"')
    server.wait_until(
        lambda: server.get("/readyz").status_code == 200, timeout=15, about="/readyz to recover"
    )
    print(f"[postgresql] /readyz 503 {turned:.2f} s after the database was dropped, then recovered")
