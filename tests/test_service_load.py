"""Representative renders under production load: request limits and SIGTERM under load.

The cases and their boot are test_service.py's (service_cases.py); each is rendered and
installed once per test process. With one worker, a request limit never ends the server; 30
keep-alive clients around SIGTERM lose no accepted request; the server's own shutdown limit is
GRACEFUL_SHUTDOWN_SECONDS. Figures are printed: run with `-s` or `-rA`.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
from process import Server, Servers, free_port
from service_cases import (
    EXIT_WITHIN_SECONDS,
    GRACEFUL_SECONDS,
    READY_WITHIN_SECONDS,
    Project,
    boot,
    server_env,
)

pytestmark = pytest.mark.slow


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
from {package}.kernel import settings as module

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
    python = project.rendered.venv_bin()
    result = project.rendered.run(python, "-c", code, project.case.server, env=env)
    limit = float(result.stdout.split()[-1])
    print(f"[{project.case.id}] shutdown limit with a budget of {CLOUD_RUN_BUDGET} s: {limit} s")
    assert limit <= CLOUD_RUN_BUDGET, project.rendered.explain("gunicorn.conf.py", result.stdout)
