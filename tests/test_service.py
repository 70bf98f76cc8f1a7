"""Representative renders install, pass their own checks and run as real servers.

Each case (service_cases.py) is rendered, locked and synced with the project's own Python once
per test process (and per xdist worker that runs one of its tests), then:

- the service's own checks pass: mypy (strict), ruff and its test suite;
- it boots as a real process on a free loopback port (uvicorn: `python -m <package>`; gunicorn:
  `gunicorn --config gunicorn.conf.py`), in production with a real secret, and answers its
  probes, problem+json errors with the request id, and one JSON log line per event;
- SIGTERM to the server process (the group leader, as a container runtime signals PID 1) lets an
  in-flight request finish, exits 0 within the graceful timeout and leaves no worker behind.

Production load (request limits, SIGTERM under load, the shutdown budget) is in
test_service_load.py. Timings (render, install, boot to ready, shutdown) are printed: run with
`-s` or `-rA`.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from process import Servers, wait_for
from rendering import python_for
from service_cases import (
    EXIT_WITHIN_SECONDS,
    GRACEFUL_SECONDS,
    Project,
    boot,
    startup_records,
)

pytestmark = pytest.mark.slow

SLOW_SECONDS = 2
SLOW_PATH = "/v1/slow"
SLOW_STARTED_EVENT = "slow_request_started"
PROBLEM_JSON = "application/problem+json"


def run_check(project: Project, *argv: str, about: str | None = None) -> None:
    """Run one of the service's own checks with `uv run --locked`; fail with its output."""
    started = time.monotonic()
    result = project.rendered.uv("run", "--locked", *argv, check=False)
    elapsed = time.monotonic() - started
    print(f"[{project.case.id}] {' '.join(argv)}: exit {result.returncode} in {elapsed:.1f} s")
    assert result.returncode == 0, project.rendered.explain(about, result.stdout + result.stderr)


# --- a: install ---------------------------------------------------------------------------------


def test_installs_with_the_chosen_python(project: Project) -> None:
    print(project.timings())
    assert (project.path / "uv.lock").is_file()
    python = project.rendered.venv_bin()
    result = project.rendered.run(python, "-c", "import sys; print(sys.version)")
    chosen = python_for(project.case.python_version)
    expected = project.rendered.run(chosen, "-c", "import sys; print(sys.version)").stdout
    assert result.stdout == expected, project.rendered.explain(".python-version", result.stdout)
    assert result.stdout.startswith(project.case.python_version + ".")


# --- b: the service's own checks ---------------------------------------------------------------


def test_mypy_strict_passes(project: Project) -> None:
    run_check(project, "mypy", about="pyproject.toml")


def test_ruff_check_passes(project: Project) -> None:
    run_check(project, "ruff", "check", about="pyproject.toml")


def test_own_test_suite_passes(project: Project) -> None:
    started = time.monotonic()
    project.rendered.own_suite(workers=None, about="pyproject.toml")
    print(f"[{project.case.id}] own suite: {time.monotonic() - started:.1f} s")


# --- c: a real server ---------------------------------------------------------------------------


def test_serves_probes_problems_and_json_logs(project: Project, servers: Servers) -> None:
    server, _ = boot(project, servers)

    livez = server.get("/livez")
    assert livez.status_code == 200, server.describe()
    assert livez.headers["content-type"].startswith("application/json"), livez.headers
    assert livez.json().get("status") == "ok", livez.text

    readyz = server.get("/readyz")
    assert readyz.status_code == 200, readyz.text
    assert readyz.json().get("status") == "ok", readyz.text

    # A problem+json 404 carries the id the server gave the request ...
    missing = server.get("/no-such-route")
    assert missing.status_code == 404, missing.text
    assert missing.headers["content-type"].startswith(PROBLEM_JSON), missing.headers
    generated_id = missing.headers.get("x-request-id")
    assert generated_id, missing.headers
    body = missing.json()
    assert body["status"] == 404, body
    assert body["request_id"] == generated_id, (body, missing.headers)

    # ... or the valid one the caller sent.
    sent_id = f"test-{uuid.uuid4().hex}"
    echoed = server.get("/no-such-route", headers={"X-Request-ID": sent_id})
    assert echoed.status_code == 404, echoed.text
    assert echoed.headers.get("x-request-id") == sent_id, echoed.headers
    assert echoed.json()["request_id"] == sent_id, echoed.text

    # stdout is one JSON object per line; the access log lines carry the request ids.
    def access_lines() -> list[dict[str, Any]]:
        ids = {generated_id, sent_id}
        return [r for r in server.json_lines() if r.get("request_id") in ids and "status" in r]

    server.wait_until(lambda: len(access_lines()) >= 2, timeout=5, about="two access log lines")
    by_id = {record["request_id"]: record for record in access_lines()}
    for request_id in (generated_id, sent_id):
        record = by_id[request_id]
        assert record.get("status") == 404, record
        assert "timestamp" in record, record
        assert "level" in record, record
    startup = startup_records(server)
    assert len(startup) == project.case.web_concurrency, server.describe()
    assert all(r.get("environment") == "production" for r in startup), startup
    assert "Traceback" not in server.stderr(), server.describe()

    server.stop(timeout=EXIT_WITHIN_SECONDS)


SLOW_ROUTE = f'''

# --- appended by the template's tests/test_service.py: a user's own slow endpoint ---
import asyncio  # noqa: E402

from fastapi import APIRouter  # noqa: E402

from .kernel.logging import get_logger  # noqa: E402

_slow_router = APIRouter()


@_slow_router.get("/slow")
async def _slow() -> dict[str, str]:
    get_logger("slow").info("{SLOW_STARTED_EVENT}")
    await asyncio.sleep({SLOW_SECONDS})
    return {{"status": "done"}}


VERSIONS = {{**VERSIONS, "1": [*VERSIONS["1"], _slow_router]}}
'''


@pytest.fixture
def slow_endpoint(project: Project) -> Iterator[str]:
    """Add `GET /v1/slow` to version 1 of the rendered copy, for this test only."""
    relative = f"{project.rendered.package_dir}/api.py"
    api = project.path / relative
    original = api.read_text()
    assert re.search(r"^VERSIONS\b", original, re.MULTILINE), project.rendered.explain(
        relative, "api.py no longer defines VERSIONS"
    )
    api.write_text(original + SLOW_ROUTE)
    try:
        yield SLOW_PATH
    finally:
        api.write_text(original)
        shutil.rmtree(api.parent / "__pycache__", ignore_errors=True)


def test_sigterm_drains_in_flight_requests_and_exits_0(
    project: Project, servers: Servers, slow_endpoint: str
) -> None:
    server, _ = boot(project, servers)

    def slow_started() -> bool:
        return any(r.get("event") == SLOW_STARTED_EVENT for r in server.json_lines())

    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(server.get, slow_endpoint, timeout=GRACEFUL_SECONDS + 10)
        server.wait_until(slow_started, timeout=10, about=f"{slow_endpoint} to start")
        assert not in_flight.done(), in_flight.result()

        signalled = server.signal(signal.SIGTERM)
        try:
            response = in_flight.result(timeout=EXIT_WITHIN_SECONDS)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise AssertionError(
                f"the in-flight request failed after SIGTERM: {exc!r}\n{server.describe()}"
            ) from None
        answered = time.monotonic() - signalled

    assert response.status_code == 200, f"{response.status_code} {response.text}"
    assert response.json() == {"status": "done"}, response.text

    code = server.wait_exit(timeout=max(0.1, EXIT_WITHIN_SECONDS - answered))
    shutdown = time.monotonic() - signalled
    print(
        f"[{project.case.id}] SIGTERM: in-flight request answered after {answered:.2f} s,"
        f" exit {code} after {shutdown:.2f} s"
    )
    assert code == 0, f"exit code {code} after SIGTERM (expected 0)\n{server.describe()}"
    assert shutdown <= EXIT_WITHIN_SECONDS, server.describe()
    with contextlib.suppress(AssertionError):  # a worker may take a moment to follow its master
        wait_for(lambda: not server.group_members(), timeout=2)
    leftovers = server.group_members()
    assert not leftovers, f"processes outlived the server: {leftovers}\n{server.describe()}"
    assert server.refuses_connections(), f"port {server.port} still accepts connections"

    # Every worker ran its lifespan's shutdown, and said so in JSON.
    shutdowns = [r for r in server.json_lines() if r.get("event") == "shutdown"]
    assert len(shutdowns) == project.case.web_concurrency, server.describe()
    assert "Traceback" not in server.stderr(), server.describe()
