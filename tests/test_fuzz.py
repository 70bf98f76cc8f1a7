"""Fuzzing drill: schemathesis finds nothing in a running service's OpenAPI document.

For each versioning strategy, a render is installed, migrated and started as a real process in
production (docs enabled, so the document is served), then `schemathesis run --checks all` with
every phase (coverage, fuzzing, stateful) goes through its operations: no server error, no
status code, content type or header the document does not list, no schema-valid request refused,
no schema-violating request accepted, `Allow` matching the documented methods.

Each API version is fuzzed on its own: versions share their data, so a resource created in v1
and deleted in v2 would look to the stateful phase like one lost after its creation.

The generated cases and findings of each run are printed (run with `-s` or `-rA`).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from databases import create_database, drop_database
from process import Server, Servers, free_port
from rendering import BIN, Rendered, render

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 30  # per operation and phase: about 600 cases and 20 s a run
# Each strategy with a database fuzzes at least a third of the 1,000 cases the drill promises.
MIN_CASES_WITH_A_DATABASE = 334
RUN_TIMEOUT_SECONDS = 240  # a loaded machine doubled a run (110 s)
SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
# The list's `cursor` is opaque and signed: a string the schema allows is still, almost always,
# not a cursor this service issued, and the documented answer to it is 400.
CONFIG = """
[[operations]]
include-path-regex = "/items$"
include-method = "GET"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "409"]
"""


@dataclass(frozen=True)
class FuzzCase:
    api_versioning: str
    database: str
    python_version: str

    @property
    def id(self) -> str:
        return f"{self.api_versioning}-{self.database}"

    def documents(self) -> list[tuple[str, list[str]]]:
        """(document path, extra schemathesis arguments) of each run: one per API version."""
        if self.api_versioning == "mounted":
            return [("/v1/openapi.json", []), ("/v2/openapi.json", []), ("/openapi.json", [])]
        return [
            ("/openapi.json", ["--exclude-path-regex", "^/v2/"]),
            ("/openapi.json", ["--exclude-path-regex", "^/v1/"]),
        ]


CASES = [
    FuzzCase("url_path", "postgresql", "3.13"),
    FuzzCase("header", "postgresql", "3.12"),
    FuzzCase("mounted", "sqlite", "3.13"),
    FuzzCase("url_path", "none", "3.13"),
]


@dataclass
class Service:
    case: FuzzCase
    rendered: Rendered
    database_url: str

    @property
    def prefix(self) -> str:
        return str(self.rendered.answers["package_name"]).upper() + "_"

    def env(self, **extra: str) -> dict[str, str]:
        settings = {
            "ENVIRONMENT": "production",
            "SECRET_KEY": secrets.token_hex(20),
            "DOCS_ENABLED": "true",  # the document under test; off by default in production
            "OTLP_TRACES_ENDPOINT": "",
            "LOG_LEVEL": "WARNING",
            **({"DATABASE_URL": self.database_url} if self.database_url else {}),
            **extra,
        }
        return {
            **self.rendered.uv_env(),
            **{self.prefix + name: value for name, value in settings.items()},
            "WEB_CONCURRENCY": "1",
            "PYTHONUNBUFFERED": "1",
        }


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.id)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    case: FuzzCase = request.param
    tmp = tmp_path_factory.mktemp(f"fuzz-{case.id}")
    answers = {
        "project_name": "Fuzz Target",
        "api_versioning": case.api_versioning,
        "database": case.database,
        "python_version": case.python_version,
    }
    rendered = render(tmp / "svc", answers)
    rendered.install()
    name = f"fuzz_{case.api_versioning}_{secrets.token_hex(3)}"
    has_database = case.database != "none"
    url = create_database(case.database, name, tmp) if has_database else ""
    built = Service(case=case, rendered=rendered, database_url=url)
    if has_database:
        rendered.uv("run", "--locked", "alembic", "upgrade", "head", env=built.env())
    yield built
    if has_database:
        drop_database(case.database, name)


def start(service: Service, servers: Servers) -> Server:
    port = free_port()
    package = str(service.rendered.answers["package_name"])
    env = service.env(PORT=str(port), HOST="127.0.0.1")
    argv: list[str | Path] = [BIN / "uv", "run", "--locked", "python", "-m", package]
    server = servers.start(argv, cwd=service.rendered.path, env=env, port=port)
    server.wait_ready("/readyz", timeout=30)
    return server


def fuzz(server: Server, document: str, extra: list[str], workdir: Path) -> tuple[int, str]:
    """Run schemathesis on one document; return its generated case count and its output."""
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG)
    argv = [
        BIN / "schemathesis",
        "--config-file",
        config,
        "run",
        server.url + document,
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "2",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--no-color",
        *extra,
    ]
    result = subprocess.run(
        [str(arg) for arg in argv],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    output = result.stdout + result.stderr
    generated = re.search(r"(\d+) generated", output)
    assert generated, f"no case count in the schemathesis output:\n{output}"
    assert result.returncode == 0, f"schemathesis found problems:\n{output}\n{server.describe()}"
    return int(generated[1]), output


def test_schemathesis_finds_nothing(service: Service, tmp_path: Path) -> None:
    total = 0
    with Servers(tmp_path / "logs") as servers:
        server = start(service, servers)
        for document, extra in service.case.documents():
            started = time.monotonic()
            generated, output = fuzz(server, document, extra, tmp_path)
            total += generated
            summary = output.strip().splitlines()[-1]
            print(
                f"[{service.case.id}] {document} {' '.join(extra)}: {generated} cases in "
                f"{time.monotonic() - started:.0f} s, {summary}"
            )
        assert server.process.poll() is None, server.describe()
    print(f"[{service.case.id}] {total} cases, no findings")
    if service.case.database != "none":
        assert total >= MIN_CASES_WITH_A_DATABASE, f"only {total} cases generated"
