"""Each job queue and broker renders a service whose jobs really run through a worker.

For every supported queue x broker (Celery and taskiq on Redis and on RabbitMQ, ARQ on Redis),
the rendered service installs and its own suite passes against the real broker on this machine
(Redis 6379, RabbitMQ 5672) and PostgreSQL (5432), worker tests included: a job enqueued through
the API runs in a real worker process; a worker SIGKILLed in the middle of a job leaves it to
the next worker; a SIGTERM lets the running job finish; the worker's probe follows its
heartbeat. One case has no database (the `reports` example, its effect a file). The reliability
tests run too (tests/test_reliability.py): a job that kills its worker on every delivery is
dead-lettered after its attempts, a retry waits outside the worker's only slot, a dead letter is
requeued by the operators' command, two schedulers send each tick once; with Sentry (two cases),
failed and dead-lettered jobs reach a local Sentry.

The suite time, the end-to-end job latency (enqueued through the API until its effect is
visible), the time a killed worker's job took to complete and the reliability figures are
printed (`-s` or `-rA`).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from provision import ServiceFactory

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class QueueCase:
    queue: str
    broker: str
    python_version: str
    database: str
    sentry: bool = False
    features: tuple[str, ...] = ()
    auth: str = "none"

    @property
    def id(self) -> str:
        return f"{self.queue}-{self.broker}"

    @property
    def answers(self) -> dict[str, object]:
        answers: dict[str, object] = {
            "project_name": f"Jobs {self.queue} {self.broker}",
            "queue": self.queue,
            "python_version": self.python_version,
            "database": self.database,
            "sentry": self.sentry,
            "features": list(self.features),
            "auth": self.auth,
        }
        if self.queue != "arq":
            answers["broker"] = self.broker
        return answers


PROTECTIONS = ("rate_limiting", "idempotency", "caching")  # every feature, with a Redis broker

CASES = [
    # The HTTP protections beside a Redis broker: one server, two logical databases, two clients;
    # idempotency keys, whose suite races duplicates over two workers; the cache's stampede.
    # With both credentials: the rate limits count, and the idempotency keys scope, principals.
    QueueCase(
        "celery", "redis", "3.13", "postgresql", features=PROTECTIONS, auth="oidc_and_api_key"
    ),
    QueueCase("celery", "rabbitmq", "3.12", "postgresql", sentry=True),
    QueueCase("taskiq", "redis", "3.12", "postgresql", sentry=True),
    # Idempotency keys without a database: in Redis beside a RabbitMQ broker, POST /reports;
    # API keys without one either: their hashes in the settings.
    QueueCase("taskiq", "rabbitmq", "3.13", "none", features=("idempotency",), auth="api_key"),
    QueueCase("arq", "redis", "3.13", "postgresql"),
]


# What tests/test_reliability.py records (the Sentry one only when the case has Sentry).
RELIABILITY_FIGURES = ("kill", "retry", "requeue", "schedule", "sentry")
# What tests/test_ratelimit.py's process tests record, with rate limiting.
RATE_LIMIT_FIGURES = ("requests", "allowed", "refused", "busiest_window")
# What tests/test_idempotency.py's race records, with idempotency: items created in the
# database, or (without one) report jobs enqueued, counted by the broker.
IDEMPOTENCY_FIGURES = ("requests", "created_201", "replayed_201", "in_flight_409", "rows")
IDEMPOTENCY_REDIS_FIGURES = ("requests", "accepted_202", "replayed_202", "in_flight_409", "jobs")
# What tests/test_cache.py records: the database loads of 1,000 concurrent misses.
CACHE_FIGURES = ("database_loads", "results")


def figures_of(
    recorded: dict[str, dict[str, str]], tests: tuple[str, ...], names: tuple[str, ...]
) -> dict[str, dict[str, str]]:
    """The figures `names` each test whose name starts with one of `tests` recorded."""
    return {
        test: {name: found[name] for name in names if name in found}
        for test, found in recorded.items()
        if test.startswith(tests)
    }


def properties(junit: Path) -> dict[str, dict[str, str]]:
    """Test name -> the properties it recorded (`record_property`)."""
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314 - our own run wrote it
        recorded = {item.get("name", ""): item.get("value", "") for item in case.iter("property")}
        if recorded:
            found[case.get("name", "")] = recorded
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_own_suite_runs_jobs_through_a_real_worker(
    case: QueueCase, rendered_service: ServiceFactory, tmp_path: Path
) -> None:
    rendered = rendered_service(case.answers)
    installed = sum(rendered.timings.values())
    assert rendered.broker_url, rendered.explain(None, "no broker")
    junit = tmp_path / "junit.xml"
    started = time.monotonic()
    rendered.own_suite(about="tests/test_worker.py, tests/test_reliability.py", junit=junit)
    suite = time.monotonic() - started

    recorded = properties(junit)
    workers = [name for name in recorded if "job_latency_seconds" in recorded[name]]
    assert workers, rendered.explain(None, f"no job latency recorded: {recorded}")
    latency = float(recorded[workers[0]]["job_latency_seconds"])
    redelivered = [
        float(p["redelivery_seconds"]) for p in recorded.values() if "redelivery_seconds" in p
    ]
    assert redelivered, rendered.explain(None, f"no kill test recorded its time: {recorded}")
    print(
        f"[{case.id}] install {installed:.1f} s, own suite {suite:.1f} s (-n 2), job latency "
        f"{latency * 1000:.0f} ms, killed worker's job done {redelivered[0]:.1f} s after the kill"
    )
    reliability = {
        name: value
        for found in recorded.values()
        for name, value in found.items()
        if name in RELIABILITY_FIGURES
    }
    for name, value in sorted(reliability.items()):
        print(f"[{case.id}] {name}: {value}")
    expected = set(RELIABILITY_FIGURES) if case.sentry else set(RELIABILITY_FIGURES) - {"sentry"}
    missing = sorted(expected - set(reliability))
    assert not missing, rendered.explain(None, f"reliability figures not recorded: {missing}")
    if "rate_limiting" in case.features:
        limits = figures_of(
            recorded, ("test_four_workers", "test_steady_traffic"), RATE_LIMIT_FIGURES
        )
        for name, figures in sorted(limits.items()):
            print(f"[{case.id}] {name}: {figures}")
        assert len(limits) == 2, rendered.explain(None, f"rate-limit figures: {recorded}")
    if "idempotency" in case.features:
        in_redis = case.database == "none"
        test = "enqueue_one_job" if in_redis else "create_one_item"
        race = recorded.get(f"test_concurrent_duplicates_over_two_workers_{test}", {})
        names = IDEMPOTENCY_REDIS_FIGURES if in_redis else IDEMPOTENCY_FIGURES
        figures = {key: race[key] for key in names if key in race}
        print(f"[{case.id}] idempotency race: {figures}")
        effects = figures.get("jobs" if in_redis else "rows")
        assert effects == "1", rendered.explain(None, f"idempotency race: {recorded}")
    if "caching" in case.features:
        stampedes = figures_of(recorded, ("test_a_thousand", "test_two_workers"), CACHE_FIGURES)
        for name, figures in sorted(stampedes.items()):
            print(f"[{case.id}] {name}: {figures}")
        loads = [figures.get("database_loads") for figures in stampedes.values()]
        assert loads == ["1", "1"], rendered.explain(None, f"cache figures: {recorded}")
