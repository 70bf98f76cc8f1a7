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

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from drills import DrillCase, DrillService, prepare
from process import Server, Servers
from provision import ServiceFactory
from rendering import BIN

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 30  # per operation and phase: about 600 cases and 20 s a run
# Each strategy with a database fuzzes at least a third of the 1,000 cases the drill promises.
MIN_CASES_WITH_A_DATABASE = 334
RUN_TIMEOUT_SECONDS = 240  # a loaded machine doubled a run (110 s)
SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
# The list's `cursor` is opaque and signed: a string the schema allows is still, almost always,
# not a cursor this service issued, and the documented answer to it is 400. Writes to an item
# are conditional: an If-Match the schema allows is, almost always, not the item's ETag (412),
# and a PATCH with neither If-Match nor a version is refused (428). With idempotency keys, a key
# the fuzzer sends again with another body is the documented 422, and while the first request
# runs, a 409. Operations are picked by name ("METHOD path"): one filter, no ambiguity.
CONFIG = """
[[operations]]
include-name-regex = "^GET .*/items$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "409"]

[[operations]]
include-name-regex = "^POST .*/items$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "409"{reused}]

[[operations]]
include-name-regex = '^(PATCH|DELETE) .*/items/\\{{item_id\\}}$'
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "412", "428"{reused}]
"""


@dataclass(frozen=True)
class FuzzCase:
    api_versioning: str
    database: str
    python_version: str
    features: tuple[str, ...] = ()
    auth: str = "none"

    @property
    def id(self) -> str:
        return f"{self.api_versioning}-{self.database}" + ("-all" if self.features else "")

    @property
    def drill(self) -> DrillCase:
        answers = {
            "api_versioning": self.api_versioning, "database": self.database,
            "python_version": self.python_version, "features": list(self.features),
            "auth": self.auth,
        }  # fmt: skip
        # Generous limits: a schema-valid request refused 429 would read as a finding.
        return DrillCase(f"fuzz-{self.id}", answers, settings=GENEROUS if self.features else {})

    def documents(self) -> list[tuple[str, list[str]]]:
        """(document path, extra schemathesis arguments) of each run: one per API version."""
        if self.api_versioning == "mounted":
            return [("/v1/openapi.json", []), ("/v2/openapi.json", []), ("/openapi.json", [])]
        return [
            ("/openapi.json", ["--exclude-path-regex", "^/v2/"]),
            ("/openapi.json", ["--exclude-path-regex", "^/v1/"]),
        ]


GENEROUS = {"RATE_LIMIT_POLICIES": json.dumps({"default": {"limit": 10**6, "window_seconds": 60}})}
CASES = [
    # Every HTTP protection and both credentials on: their headers, answers and documentation
    # fuzzed too. Every case carries a valid token (the drill issuer's); schemathesis's
    # ignored_auth check sends each secured operation without it, and with a bad one: a 401.
    FuzzCase(
        "url_path",
        "postgresql",
        "3.13",
        ("rate_limiting", "idempotency", "caching"),
        auth="oidc_and_api_key",
    ),
    FuzzCase("header", "postgresql", "3.12"),
    FuzzCase("mounted", "sqlite", "3.13"),
    FuzzCase("url_path", "none", "3.13"),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.id)
def service(
    request: pytest.FixtureRequest, rendered_service: ServiceFactory
) -> Iterator[tuple[FuzzCase, DrillService]]:
    case: FuzzCase = request.param
    with prepare(case.drill, rendered_service) as prepared:
        yield case, prepared


def start(service: DrillService, servers: Servers) -> Server:
    """The image's command with the deploy target's production settings, one worker, and the
    API document (off by default in production) served."""
    overrides = {
        **service.rendered.settings(DOCS_ENABLED="true", LOG_LEVEL="WARNING"),
        "WEB_CONCURRENCY": "1",
    }
    return service.start(servers, overrides)


def fuzz(
    service: tuple[FuzzCase, DrillService],
    server: Server,
    document: str,
    extra: list[str],
    workdir: Path,
) -> tuple[int, str]:
    """Run schemathesis on one document; return its generated case count and its output."""
    case, prepared = service
    credential = [f"--header={name}: {value}" for name, value in prepared.credential.items()]
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG.format(reused=', "422"' if "idempotency" in case.features else ""))
    # SQLite takes one writer at a time: concurrent writers wait for the lock and, past its
    # timeout on a loaded machine, get the documented 503. One client there.
    workers = "1" if case.database == "sqlite" else "2"
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
        workers,
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--no-color",
        *credential,
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


def test_schemathesis_finds_nothing(service: tuple[FuzzCase, DrillService], tmp_path: Path) -> None:
    case, prepared = service
    total = 0
    with Servers(tmp_path / "logs") as servers:
        server = start(prepared, servers)
        for document, extra in case.documents():
            started = time.monotonic()
            generated, output = fuzz(service, server, document, extra, tmp_path)
            total += generated
            summary = output.strip().splitlines()[-1]
            print(
                f"[{case.id}] {document} {' '.join(extra)}: {generated} cases in "
                f"{time.monotonic() - started:.0f} s, {summary}"
            )
            if "WARNINGS" in output:  # not findings, but worth reading (the run's own words)
                print(output[output.index("WARNINGS") :].split("SUMMARY")[0].strip("= \n"))
        assert server.process.poll() is None, server.describe()
    print(f"[{case.id}] {total} cases, no findings")
    if case.database != "none":
        assert total >= MIN_CASES_WITH_A_DATABASE, f"only {total} cases generated"
