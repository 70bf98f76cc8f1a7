"""Production drills: representative renders, started as their deploy files start them, under load.

Each case is rendered, installed, migrated against the real database, and started with the
image's command and the deploy target's production settings (tests/drills.py). Then:

1. Sustained load: 50 keep-alive clients send more requests than MAX_REQUESTS allows a worker
   (and, under a supervisor, enough for every worker to be recycled at least twice): no refused
   connection, no lost request, no server error; the process is still serving at the end.
2. SIGTERM under load: 50 clients keep sending to an API endpoint that queries the database;
   SIGTERM to the process (as a container runtime signals PID 1): every request the server had
   accepted is answered completely (tests/loadgen.py says what counts as accepted), new
   connections are refused once the listener is closed, and the process exits 0 well within the
   graceful timeout.

Figures (requests, outcomes, latencies, exit time) are printed: run with `-s` or `-rA`.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from drills import DrillCase, DrillService, prepare
from loadgen import LoadResult, load
from process import Server, Servers
from provision import ServiceFactory

pytestmark = pytest.mark.slow

CONCURRENCY = 50
SHORT_WORK_EXIT_SECONDS = 8.0  # requests take milliseconds: exit well before any grace period
# Jobs take milliseconds too; the worker also closes its pool processes (slow on a loaded machine).
WORKER_EXIT_SECONDS = 15.0

CASES = [
    DrillCase("defaults", {}),
    DrillCase("mysql-gunicorn-header-helm", {
        "database": "mysql", "server": "gunicorn", "api_versioning": "header",
        "deploy_target": "kubernetes", "k8s_packaging": "helm", "python_version": "3.12",
    }),
    DrillCase("sqlite-mounted-compose", {
        "database": "sqlite", "api_versioning": "mounted", "deploy_target": "compose",
        "tracing": "none",
    }),
    DrillCase("nodb-gunicorn-cloudrun", {
        "database": "none", "server": "gunicorn", "deploy_target": "cloud_run",
        "tracing": "none", "metrics": False,
    }),
    # With the HTTP protections and authentication: under load, most requests are answered 429
    # (every client is one principal, the drill issuer's token's), which must cost no lost
    # request and no 5xx; every request is authenticated (JWT verified) before it is counted.
    # The writes the drills seed go through a policy of their own, as a seeding job's would.
    # Idempotency keys and the cache ride along (the drills send no key and read lists, which
    # are not cached: their routes must behave as before, and the components open and close
    # with the rest).
    DrillCase("celery-redis-protections-auth", {
        "queue": "celery", "broker": "redis", "auth": "oidc_and_api_key",
        "features": ["rate_limiting", "idempotency", "caching"],
    }, settings={"RATE_LIMIT_POLICIES": json.dumps({
        "default": {"limit": 600, "window_seconds": 60},
        "writes": {"limit": 100_000, "window_seconds": 60, "methods": ["POST", "PATCH"]},
    })}),
    DrillCase("taskiq-rabbitmq", {"queue": "taskiq", "broker": "rabbitmq", "tracing": "none"}),
    DrillCase("arq", {"queue": "arq", "database": "sqlite", "deploy_target": "compose"}),
]  # fmt: skip


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.id)
def service(
    request: pytest.FixtureRequest, rendered_service: ServiceFactory
) -> Iterator[DrillService]:
    case: DrillCase = request.param
    started = time.monotonic()
    with prepare(case, rendered_service) as prepared:
        print(f"[{case.id}] rendered, installed and migrated in {time.monotonic() - started:.1f} s")
        yield prepared


def recycles(server: Server) -> int:
    """How many times a worker was recycled after its request limit (uvicorn or gunicorn)."""
    text = server.stdout() + server.stderr()
    return text.count("Maximum request limit") + text.count("Autorestarting worker")


async def watch_exit(server: Server, died: asyncio.Event) -> None:
    """Set `died` when the server process exits (the clients then stop at once)."""
    while server.process.poll() is None:
        await asyncio.sleep(0.1)
    died.set()


def worker_count(service: DrillService) -> int:
    return int(service.setting("WEB_CONCURRENCY", "1"))


def test_sustained_load_past_max_requests(service: DrillService, servers: Servers) -> None:
    server = service.start(servers)
    service.seed(server)
    workers = worker_count(service)
    limit = int(service.setting("MAX_REQUESTS", "10000"))
    jitter = int(service.setting("MAX_REQUESTS_JITTER", "1000"))
    supervised = workers > 1 or service.rendered.answers["server"] == "gunicorn"
    # One worker: past the limit. A supervisor: every worker recycled at least twice.
    total = (limit + jitter) * (2 * workers + 1 if supervised else 1) + 2_000
    # Most clients on the cheapest path (probes count toward the limit too), some on the API.
    api_share = CONCURRENCY // 5

    async def run() -> tuple[LoadResult, LoadResult]:
        api, probe, died = LoadResult(), LoadResult(), asyncio.Event()
        clients = asyncio.gather(
            load(server.host, server.port, service.api_path, concurrency=api_share,
                 requests=total // 10, seconds=150, result=api, stop=died,
                 headers=service.credential),
            load(server.host, server.port, "/livez", concurrency=CONCURRENCY - api_share,
                 requests=total - total // 10, seconds=150, result=probe, stop=died),
        )  # fmt: skip
        watcher = asyncio.create_task(watch_exit(server, died))
        await clients
        watcher.cancel()
        return api, probe

    api, probe = asyncio.run(run())
    alive = server.process.poll() is None and server.get("/livez").status_code == 200
    print(
        f"[{service.case.id}] sustained load, {workers} worker(s), MAX_REQUESTS {limit} (+"
        f"{jitter}), {recycles(server)} recycle(s), alive after: {alive}\n"
        f"  API {service.api_path}: {api.summary()}\n  /livez: {probe.summary()}"
    )
    served = api.ok + probe.ok
    for result in (api, probe):
        figures = f"{result.summary()}\n{server.describe()}"
        assert result.refused == 0, figures
        assert result.broken == 0, figures
        assert result.server_errors == 0, figures
    assert served >= total, f"{served} of {total} requests answered\n{server.describe()}"
    assert alive, f"the service stopped serving after {served} requests\n{server.describe()}"
    if supervised and limit:
        assert recycles(server) >= 2, f"no worker was recycled\n{server.describe()}"
    else:
        assert recycles(server) == 0, server.describe()


def test_sigterm_under_load_answers_every_accepted_request(
    service: DrillService, servers: Servers
) -> None:
    server = service.start(servers)
    service.seed(server)
    graceful = int(service.setting("GRACEFUL_SHUTDOWN_SECONDS", "20"))

    async def run() -> tuple[LoadResult, float, bool]:
        result = LoadResult()
        clients = asyncio.create_task(
            load(server.host, server.port, service.api_path, concurrency=CONCURRENCY,
                 requests=1_000_000, seconds=graceful + 15, result=result,
                 headers=service.credential)
        )  # fmt: skip
        await asyncio.sleep(3)
        before = result.ok
        signalled = result.mark()
        server.signal(signal.SIGTERM)
        while server.process.poll() is None and time.monotonic() - signalled < graceful + 10:
            await asyncio.sleep(0.02)
        exited = time.monotonic() - signalled
        refused_at_exit = server.refuses_connections()
        await asyncio.sleep(0.3)
        clients.cancel()
        assert before > 0, f"no request answered before SIGTERM\n{server.describe()}"
        return result, exited, refused_at_exit

    result, exited, refused_after = asyncio.run(run())
    code = server.process.poll()
    print(
        f"[{service.case.id}] SIGTERM under load: exit {code} after {exited:.2f} s (graceful "
        f"{graceful} s)\n  {result.summary()}"
    )
    assert code == 0, f"exit code {code}\n{server.describe()}"
    # No worker was killed with requests in progress (which would close them unanswered).
    assert "WORKER TIMEOUT" not in server.stderr() + server.stdout(), server.describe()
    assert result.broken == 0, f"requests lost mid-flight: {result.summary()}\n{server.describe()}"
    # A 503 with Retry-After is an answer (a request that waited past the pool timeout while the
    # process shut down); a 500 is not.
    failures = {
        status: n for status, n in result.statuses.items() if status >= 500 and status != 503
    }
    assert not failures, f"{result.summary()}\n{server.describe()}"
    assert exited < min(graceful, SHORT_WORK_EXIT_SECONDS), server.describe()
    assert refused_after, "the port still accepts connections after the process exited"


PUBLICATIONS = 40


def events(server: Server, name: str) -> list[dict[str, Any]]:
    return [record for record in server.json_lines() if record.get("event") == name]


@pytest.mark.parametrize(
    "service", [case for case in CASES if "queue" in case.answers], indirect=True,
    ids=lambda case: case.id,
)  # fmt: skip
def test_worker_sigterm_with_a_backlog_loses_no_job(
    service: DrillService, servers: Servers
) -> None:
    """40 jobs enqueued through the API; SIGTERM to the worker while it runs them; a new worker
    finishes the rest: every job done, none lost."""
    api = service.start(servers)
    base = api.url + service.api_path.split("?")[0]
    with httpx.Client(timeout=10, headers=service.credential) as client:
        ids = []
        for number in range(PUBLICATIONS):
            name = f"job {number} {api.port}"  # unique in the module's database
            item = client.post(base, json={"name": name, "price_cents": number})
            assert item.status_code == 201, item.text
            ids.append(item.json()["id"])
        for item_id in ids:
            queued = client.post(f"{base}/{item_id}/publication", json={"version": 1})
            assert queued.status_code == 202, queued.text

        first = service.start_worker(servers)
        first.wait_until(lambda: len(events(first, "job_succeeded")) >= 5, timeout=60,
                         about="the first worker to finish five jobs")  # fmt: skip
        signalled = first.signal(signal.SIGTERM)
        grace = int(service.setting("WORKER_SHUTDOWN_TIMEOUT_SECONDS", "25"))
        code = first.wait_exit(timeout=grace + 10)
        exited = time.monotonic() - signalled
        second = service.start_worker(servers)

        def status(item_id: int) -> str:
            response = client.get(f"{base}/{item_id}/publication")
            return str(response.json().get("status")) if response.status_code == 200 else "none"

        def all_published() -> bool:
            return all(status(item_id) == "published" for item_id in ids)

        took = second.wait_until(all_published, timeout=90, about="every job to be done")
    by_first, by_second = len(events(first, "job_succeeded")), len(events(second, "job_succeeded"))
    print(
        f"[{service.case.id}] worker SIGTERM with {PUBLICATIONS} jobs queued: exit {code} after "
        f"{exited:.2f} s (grace {grace} s); {by_first} done by the first worker, {by_second} by "
        f"the second within {took:.1f} s; all published"
    )
    assert code == 0, first.describe()
    # The jobs take milliseconds: the worker must not sit out its whole grace period.
    assert exited < min(grace, WORKER_EXIT_SECONDS), first.describe()
    assert by_first + by_second >= PUBLICATIONS, (first.describe(), second.describe())
