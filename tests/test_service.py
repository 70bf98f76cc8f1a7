"""Representative renders install, pass their own checks and run as real servers.

Each case is rendered once per module (and per xdist worker that runs one of its tests), locked
and synced with the project's own Python, then:

- the service's own checks pass: mypy (strict), ruff and its test suite;
- it boots as a real process on a free loopback port (uvicorn: `python -m <package>`; gunicorn:
  `gunicorn --config gunicorn.conf.py`), in production with a real secret, and answers its
  probes, problem+json errors with the request id, and one JSON log line per event;
- SIGTERM to the server process (the group leader, as a container runtime signals PID 1) lets an
  in-flight request finish, exits 0 within the graceful timeout and leaves no worker behind.

Timings (render, install, boot to ready, shutdown) are printed: run with `-s` or `-rA`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from process import Server, Servers, free_port, wait_for
from rendering import BIN, PYTHONS, Rendered, render

pytestmark = pytest.mark.slow

GRACEFUL_SECONDS = 10
EXIT_WITHIN_SECONDS = 12.0
READY_WITHIN_SECONDS = 30.0
SLOW_SECONDS = 2
SLOW_PATH = "/v1/slow"
SLOW_STARTED_EVENT = "slow_request_started"
PROBLEM_JSON = "application/problem+json"


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
    package: str
    render_seconds: float
    lock_seconds: float
    sync_seconds: float

    @property
    def path(self) -> Path:
        return self.rendered.path

    @property
    def env_prefix(self) -> str:
        return self.package.upper() + "_"

    def timings(self) -> str:
        return (
            f"[{self.case.id}] render {self.render_seconds:.1f} s, uv lock {self.lock_seconds:.1f}"
            f" s, uv sync {self.sync_seconds:.1f} s"
        )


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.id)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Project:
    case: Case = request.param
    dst = tmp_path_factory.mktemp(case.id) / "orders-service"
    started = time.monotonic()
    rendered = render(dst, case.answers)
    render_seconds = time.monotonic() - started
    package = str(rendered.answers.get("package_name", "orders_service"))

    started = time.monotonic()
    rendered.uv("lock", about="pyproject.toml")
    lock_seconds = time.monotonic() - started
    started = time.monotonic()
    rendered.uv("sync", "--locked", about="pyproject.toml")
    sync_seconds = time.monotonic() - started

    built = Project(case, rendered, package, render_seconds, lock_seconds, sync_seconds)
    print(built.timings())
    return built


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
    python = project.path / ".venv" / "bin" / "python"
    result = project.rendered.run(python, "-c", "import sys; print(sys.version)")
    chosen = PYTHONS[project.case.python_version]
    expected = Path(chosen).resolve().parent.parent.name  # /root/.pyenv/versions/3.12.1
    assert result.stdout.split()[0] == expected, project.rendered.explain(
        ".python-version", result.stdout
    )
    assert result.stdout.startswith(project.case.python_version + ".")


# --- b: the service's own checks ---------------------------------------------------------------


def test_mypy_strict_passes(project: Project) -> None:
    run_check(project, "mypy", about="pyproject.toml")


def test_ruff_check_passes(project: Project) -> None:
    run_check(project, "ruff", "check", about="pyproject.toml")


def test_own_test_suite_passes(project: Project) -> None:
    run_check(project, "pytest", "-q", "-p", "no:cacheprovider", about="pyproject.toml")


# --- c: a real server ---------------------------------------------------------------------------


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """Every server a test starts is killed, with its workers, when the test ends."""
    with Servers(tmp_path / "logs") as running:
        yield running


def server_env(project: Project, port: int, **overrides: str) -> dict[str, str]:
    prefix = project.env_prefix
    env = {
        **project.rendered.uv_env(),
        f"{prefix}PORT": str(port),
        f"{prefix}HOST": "127.0.0.1",
        f"{prefix}ENVIRONMENT": "production",
        f"{prefix}SECRET_KEY": secrets.token_hex(20),  # 40 characters
        f"{prefix}GRACEFUL_SHUTDOWN_SECONDS": str(GRACEFUL_SECONDS),
        f"{prefix}LOG_LEVEL": "INFO",
        "WEB_CONCURRENCY": str(project.case.web_concurrency),
        "PYTHONUNBUFFERED": "1",
    }
    return env | {
        name if name == "WEB_CONCURRENCY" else prefix + name: v for name, v in overrides.items()
    }


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
    # /readyz answers as soon as one worker is up; the tests below need every worker started.
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

from .core.logging import get_logger  # noqa: E402

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
    api = project.path / "src" / project.package / "api.py"
    original = api.read_text()
    assert re.search(r"^VERSIONS\b", original, re.MULTILINE), project.rendered.explain(
        f"src/{project.package}/api.py", "api.py no longer defines VERSIONS"
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


# --- d: production load: request limits and SIGTERM under load ---------------------------------

MAX_REQUESTS = 50
ABOUT_PATH = "/v1/about"  # cheap, logged by the access log (probes are not), every strategy


def about_path(project: Project) -> tuple[str, dict[str, str]]:
    """A cheap endpoint of version 1 and the headers that select it under each strategy."""
    if project.case.api_versioning == "header":
        return "/about", {"API-Version": "1"}
    return ABOUT_PATH, {}


def test_max_requests_never_ends_a_single_worker(project: Project, servers: Servers) -> None:
    """With one worker (every deploy target's default) uvicorn's limit_max_requests would end the
    process, with no supervisor to start another; gunicorn recycles its worker instead."""
    server, _ = boot(
        project,
        servers,
        WEB_CONCURRENCY="1",
        MAX_REQUESTS=str(MAX_REQUESTS),
        MAX_REQUESTS_JITTER="0",
    )
    path, headers = about_path(project)
    total = 3 * MAX_REQUESTS
    statuses: dict[int | str, int] = {}
    retried: dict[str, int] = {}
    slowest = 0.0
    # A recycled gunicorn worker is replaced while requests wait in the listen backlog: give
    # them a worker's boot time. A connection per request: a worker that reaches its limit closes
    # its idle keep-alive connections, a race that the SIGTERM drill measures, not this test.
    no_keepalive = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(
        base_url=server.url, timeout=READY_WITHIN_SECONDS, headers=headers, limits=no_keepalive
    ) as client:
        for _ in range(total):
            started = time.monotonic()
            try:
                status: int | str = client.get(path).status_code
            except httpx.TransportError as exc:
                # A connection the recycled worker had accepted, closed before the request was
                # read: a GET is retried once, as HTTP clients do (RFC 9112 section 9.3.1).
                retried[type(exc).__name__] = retried.get(type(exc).__name__, 0) + 1
                try:
                    status = client.get(path).status_code
                except httpx.TransportError as again:
                    status = type(again).__name__
            slowest = max(slowest, time.monotonic() - started)
            statuses[status] = statuses.get(status, 0) + 1
    print(
        f"[{project.case.id}] {total} requests, MAX_REQUESTS={MAX_REQUESTS}: {statuses},"
        f" retried once: {retried or 'none'}, slowest {slowest:.2f} s"
    )
    alive = server.process.poll() is None
    assert statuses == {200: total}, f"{statuses}\n{server.describe()}"
    assert alive, f"the server exited after {MAX_REQUESTS} requests\n{server.describe()}"
    server.stop(timeout=EXIT_WITHIN_SECONDS)


DRILL_CLIENTS = 30
DRILL_LOAD_SECONDS = 2.0
DRILL_REQUEST_TIMEOUT = GRACEFUL_SECONDS + 5


@dataclass
class Drill:
    """What keep-alive clients saw around SIGTERM.

    The rule (RFC 9112 section 9.6 and 9.3.1): a server may close an idle persistent
    connection, and a request that meets such a close was never accepted, so a client may retry
    it (on a new connection: refused or answered). A busy one it ends by answering with
    `Connection: close`. The clients here send their next request as soon as they read a
    response, so no connection is idle for more than a moment:

    - lost: sent on a reused connection, which closed without a response (the server closed a
      connection a request was already on), or the server's log shows the app took it;
    - cut: a response that began and did not end: always a failure;
    - not accepted: refused, or reset before any byte on a fresh connection (the kernel's
      backlog when the listener closes): retryable, counted.
    """

    answered_before: int = 0
    answered_after: int = 0
    closing: int = 0  # answers with Connection: close
    lost: list[str] = field(default_factory=list)
    cut: int = 0
    not_accepted: list[str] = field(default_factory=list)
    refused: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def figures(self) -> str:
        return (
            f"answered {self.answered_before} before and {self.answered_after} after SIGTERM"
            f" ({self.closing} with Connection: close), lost {len(self.lost)}, cut {self.cut},"
            f" not accepted {len(self.not_accepted)} (+ {self.refused} refused), other"
            f" {self.errors}"
        )


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    fields = (line.partition(":") for line in head[1:] if line)
    headers = {name.strip().lower(): value.strip() for name, _, value in fields}
    await reader.readexactly(int(headers.get("content-length", "0")))
    return int(head[0].split()[1]), headers


async def _drill_client(
    server: Server, path: str, headers: dict[str, str], drill: Drill, signalled: asyncio.Event
) -> None:
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer: asyncio.StreamWriter | None = None
    while True:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(server.host, server.port)
            except OSError:
                drill.refused += 1  # the listener is closed
                return
            fresh = True
        request_id = f"drill-{uuid.uuid4().hex}"
        after = signalled.is_set()
        request = f"GET {path} HTTP/1.1\r\nHost: drill\r\nX-Request-ID: {request_id}\r\n{extra}\r\n"
        try:
            writer.write(request.encode())
            await writer.drain()
            status, answer = await asyncio.wait_for(_read_response(reader), DRILL_REQUEST_TIMEOUT)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            partial = isinstance(exc, asyncio.IncompleteReadError) and exc.partial
            if partial:
                drill.cut += 1
            elif fresh:
                drill.not_accepted.append(request_id)
            else:
                drill.lost.append(request_id)
            writer.close()
            writer = None
            continue
        fresh = False
        if status != 200:
            drill.errors[str(status)] = drill.errors.get(str(status), 0) + 1
        elif after:
            drill.answered_after += 1
        else:
            drill.answered_before += 1
        if answer.get("connection", "").lower() == "close":
            drill.closing += 1
            writer.close()
            writer = None


async def _sigterm_under_load(
    server: Server, path: str, headers: dict[str, str]
) -> tuple[Drill, float]:
    drill, signalled = Drill(), asyncio.Event()
    clients = [
        asyncio.create_task(_drill_client(server, path, headers, drill, signalled))
        for _ in range(DRILL_CLIENTS)
    ]
    await asyncio.sleep(DRILL_LOAD_SECONDS)
    signalled.set()
    sent = server.signal(signal.SIGTERM)
    while server.process.poll() is None and time.monotonic() - sent < EXIT_WITHIN_SECONDS:
        await asyncio.sleep(0.05)
    exited = time.monotonic() - sent
    done, pending = await asyncio.wait(clients, timeout=DRILL_REQUEST_TIMEOUT)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            name = type(task.exception()).__name__
            drill.errors[name] = drill.errors.get(name, 0) + 1
    return drill, exited


def test_sigterm_under_load_answers_every_accepted_request(
    project: Project, servers: Servers
) -> None:
    server, _ = boot(project, servers)
    path, headers = about_path(project)
    drill, exited = asyncio.run(_sigterm_under_load(server, path, headers))
    code = server.process.poll()  # None: still running after EXIT_WITHIN_SECONDS
    # The app's access log names every request it took: none of those may go unanswered.
    taken = {r.get("request_id") for r in server.json_lines() if r.get("logger") == "access"}
    drill.lost += [request_id for request_id in drill.not_accepted if request_id in taken]
    print(
        f"[{project.case.id}] SIGTERM under load, {DRILL_CLIENTS} keep-alive clients:"
        f" {drill.figures()}; exit {code} after {exited:.2f} s"
    )
    assert not drill.lost, f"{drill.figures()}\n{server.describe()}"
    assert drill.cut == 0, drill.figures()
    assert not drill.errors, drill.figures()
    assert drill.answered_before > 0, drill.figures()
    assert code == 0, f"exit code {code} after {exited:.2f} s\n{server.describe()}"
    # The requests take milliseconds: the process must not sit out its graceful timeout.
    assert exited < GRACEFUL_SECONDS / 2, f"exit after {exited:.2f} s\n{server.describe()}"


CLOUD_RUN_BUDGET = 8  # deploy/cloudrun/service.yaml: GRACEFUL_SHUTDOWN_SECONDS within its 10 s

SERVER_LIMITS = """
import runpy, sys
import uvicorn
from {package} import __main__ as entrypoint
from {package}.core import settings as module

settings = module.get_settings()
if sys.argv[1] == "gunicorn":
    print(runpy.run_path("gunicorn.conf.py")["graceful_timeout"])
else:
    # What `python -m` hands to uvicorn (uvicorn.run replaced: nothing is served).
    passed = {{}}
    uvicorn.run = lambda app, **kwargs: passed.update(kwargs)
    entrypoint._serve(settings)
    drain = getattr(settings, "shutdown_drain_seconds", 0)
    closing = getattr(module, "SHUTDOWN_CLOSE_SECONDS", 0)
    print(drain + passed["timeout_graceful_shutdown"] + closing)
"""


def test_server_shutdown_limit_is_the_budget(project: Project) -> None:
    """What the server itself allows after SIGTERM (gunicorn's graceful_timeout, or the drain +
    the timeout_graceful_shutdown `python -m` gives uvicorn + closing) is GRACEFUL_SHUTDOWN_SECONDS,
    never more: the platforms' grace periods are computed from it (Cloud Run's 10 s has no room
    for gunicorn's former +5 s)."""
    env = server_env(project, free_port(), GRACEFUL_SHUTDOWN_SECONDS=str(CLOUD_RUN_BUDGET))
    code = SERVER_LIMITS.format(package=project.package)
    python = project.path / ".venv" / "bin" / "python"
    result = project.rendered.run(python, "-c", code, project.case.server, env=env)
    limit = float(result.stdout.split()[-1])
    print(f"[{project.case.id}] shutdown limit with a budget of {CLOUD_RUN_BUDGET} s: {limit} s")
    assert limit <= CLOUD_RUN_BUDGET, project.rendered.explain("gunicorn.conf.py", result.stdout)
