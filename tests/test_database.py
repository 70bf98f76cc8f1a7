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
from pathlib import Path

import pytest
from databases import admin, create_database, drop_database
from process import Servers, free_port
from rendering import BIN, Rendered, render

pytestmark = pytest.mark.slow

READINESS_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class DatabaseCase:
    database: str
    python_version: str
    api_versioning: str


CASES = [
    DatabaseCase("postgresql", "3.13", "url_path"),
    DatabaseCase("mysql", "3.12", "header"),
    DatabaseCase("sqlite", "3.13", "mounted"),
]


@dataclass
class Project:
    case: DatabaseCase
    rendered: Rendered
    database_url: str

    @property
    def prefix(self) -> str:
        return str(self.rendered.answers["package_name"]).upper() + "_"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            f"{self.prefix}DATABASE_URL": self.database_url,
            f"{self.prefix}ENVIRONMENT": "test",
            f"{self.prefix}SECRET_KEY": secrets.token_hex(20),
            **extra,
        }

    def alembic(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return self.rendered.uv(
            "run", "--locked", "alembic", *argv, env=self.env(), about="alembic.ini"
        )


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.database)
def project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Project]:
    case: DatabaseCase = request.param
    tmp = tmp_path_factory.mktemp(case.database)
    answers = {
        "project_name": f"Ledger {case.database.capitalize()}",
        "database": case.database,
        "python_version": case.python_version,
        "api_versioning": case.api_versioning,
    }
    rendered = render(tmp / "svc", answers)
    rendered.install()
    name = f"ledger_{case.database}_{secrets.token_hex(3)}"
    url = create_database(case.database, name, tmp)
    yield Project(case=case, rendered=rendered, database_url=url)
    drop_database(case.database, name)


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


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    with Servers(tmp_path / "logs") as running:
        yield running


# PostgreSQL's DROP DATABASE ... WITH (FORCE) cuts a live service off for real, and CREATE
# DATABASE brings it back: the cleanest outage to stage on this machine.
@pytest.mark.parametrize("project", [CASES[0]], indirect=True, ids=["postgresql"])
def test_readiness_follows_the_database(project: Project, servers: Servers) -> None:
    project.alembic("upgrade", "head")
    port = free_port()
    package = str(project.rendered.answers["package_name"])
    env = project.env(
        **{
            f"{project.prefix}PORT": str(port),
            f"{project.prefix}READINESS_TIMEOUT_SECONDS": str(READINESS_TIMEOUT_SECONDS),
            f"{project.prefix}ENVIRONMENT": "production",
            # The per-check body is off outside development unless asked for.
            f"{project.prefix}READINESS_DETAILS": "true",
        }
    )
    env.update(project.rendered.uv_env())
    server = servers.start(
        [BIN / "uv", "run", "--locked", "python", "-m", package],
        cwd=project.rendered.path,
        env=env,
        port=port,
    )
    server.wait_ready("/readyz", timeout=30)
    name = project.database_url.rsplit("/", 1)[1]

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
