"""What the benchmark measures: the targets (a process and its endpoints) and one round of each."""

from __future__ import annotations

import argparse
import json
import re
import secrets
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import wrk
from .report import Results, markdown_table
from .services import Server, Servers, Service, start
from .wrk import WrkResult, median_ratio

COMMON = {"project_name": "Bench Service", "database": "postgresql", "queue": "none"}
RENDER_SETS: dict[str, dict[str, object]] = {
    "default": {},  # tracing jaeger, metrics on, api_versioning url_path
    "plain": {"tracing": "none", "metrics": False},
    "header": {"api_versioning": "header"},
    "mounted": {"api_versioning": "mounted"},
    "ratelimit": {"features": ["rate_limiting"]},
    "caching": {"features": ["caching"]},
    # Every request carries a bearer token (the render's test issuer's): /v1/about is public, so
    # its cost over the default render's is the verification's; the items list requires it.
    "auth": {"auth": "oidc"},
}
# Settings a render set runs with: rate limiting counts every request (one Lua call to Redis)
# and lets them all through, so the cost measured is the allowed path's, not the refusal's.
RENDER_ENV: dict[str, dict[str, str]] = {
    "ratelimit": {
        "RATE_LIMIT_POLICIES": json.dumps({"default": {"limit": 10**9, "window_seconds": 1}}),
    },
    # A prefix of this run's own: another run's cached items (the same ids) are not this one's.
    "caching": {"REDIS_KEY_PREFIX": f"bench-{secrets.token_hex(4)}:"},
}
BARE, BARE_SQL = "bare FastAPI", "bare FastAPI + async SQLAlchemy"
# One item, read over and over: a cache hit in the caching render, a database read in the
# default one (the same render without the cache; its own target, DATABASE_READ).
ITEM = "/v1/items/1"
RENDER_ENDPOINTS: dict[str, tuple[str, ...]] = {"caching": (ITEM,)}
DATABASE_READ = "item read: database (default render)"
ENDPOINTS = {"/livez": BARE, "/v1/about": BARE, "/v1/items?limit=20": BARE_SQL}
BASELINES = (BARE, BARE_SQL)
LAYER_ENDPOINTS = ("/v1/about", "/v1/items?limit=20")
FULL = "layers: full"
WARM_UP_SECONDS = 1


@dataclass
class Target:
    """A process to start fresh every round, and the endpoints to load on it."""

    name: str
    argv: list[str | Path]
    cwd: Path
    env: dict[str, str]
    endpoints: Sequence[str]
    port_variable: str = "PORT"
    header_versioning: bool = False
    headers: list[str] = field(default_factory=list)  # sent with every request (a credential)

    def request(self, endpoint: str) -> tuple[str, list[str]]:
        """The path and headers that reach `endpoint` (`API-Version` for header versioning)."""
        if self.header_versioning and endpoint.startswith("/v1/"):
            return endpoint.removeprefix("/v1"), ["API-Version: 1", *self.headers]
        return endpoint, list(self.headers)


@dataclass
class Measurements:
    results: dict[tuple[str, str], list[WrkResult]] = field(default_factory=dict)
    cold: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, list[float]] = field(default_factory=dict)


def pool_options(service: Service) -> dict[str, str]:
    """The rendered settings' pool size and overflow (the baseline copies them)."""
    package = service.rendered.path / "src" / service.package
    # Where each release keeps the database settings (a ref may be an older one).
    places = ("kernel/settings/database.py", "kernel/settings.py", "core/settings.py")
    text = next((package / p).read_text() for p in places if (package / p).exists())
    found = {}
    for name in ("db_pool_size", "db_max_overflow"):
        match = re.search(rf"{name}: int = Field\(\s*(\d+)", text)
        found[name] = match.group(1) if match else "5"
    return {"POOL_SIZE": found["db_pool_size"], "MAX_OVERFLOW": found["db_max_overflow"]}


def baseline_targets(default: Service, programs: Mapping[str, Path], otlp: str) -> list[Target]:
    env = default.rendered.uv_env()
    bare = Target(
        BARE,
        [default.python, programs["bare_fastapi"]],
        default.rendered.path,
        env,
        ("/livez", "/v1/about"),
    )
    sql_env = {**env, "DATABASE_URL": default.database_url, **pool_options(default)}
    sql = Target(
        BARE_SQL,
        [default.python, programs["bare_sqlalchemy"]],
        default.rendered.path,
        sql_env,
        ("/v1/items?limit=20",),
    )
    return [bare, sql]


def render_target(name: str, service: Service, otlp: str) -> Target:
    """The rendered service as it runs in production: `python -m <package>`."""
    return Target(
        name,
        [service.python, "-m", service.package],
        service.rendered.path,
        service.env(otlp, RENDER_ENV.get(name.split("@", maxsplit=1)[0])),
        (*ENDPOINTS, *RENDER_ENDPOINTS.get(name.split("@", maxsplit=1)[0], ())),
        port_variable=f"{service.prefix}PORT",
        header_versioning=service.versioning == "header",
        headers=[f"{name}: {value}" for name, value in service.credential.items()],
    )


def item_read_target(default: Service, otlp: str) -> Target:
    """The default render reading one item from the database: what a cache hit is against."""
    target = render_target("default", default, otlp)
    target.name, target.endpoints = DATABASE_READ, (ITEM,)
    return target


def cache_table(results: Results, renders: Sequence[str]) -> str:
    """A cache hit (each caching render) against the database read, per request: the median
    rate and p50 over the rounds, and the CPU time a request takes (one worker on one core)."""
    names = [DATABASE_READ, *(name for name in renders if name.split("@")[0] == "caching")]
    rows = []
    for name in names:
        runs = [r for r in results.get((name, ITEM), []) if r.requests]
        if not runs:
            continue
        rate = statistics.median(r.rate for r in runs)
        p50 = statistics.median(r.p50_ms for r in runs)
        label = name if name == DATABASE_READ else f"{name}: cache hit"
        rows.append([label, f"{rate:,.0f}", f"{p50:.2f}", f"{1e6 / rate:,.0f}"])
    if len(rows) < 2:
        return ""
    return markdown_table([f"`GET {ITEM}`", "req/s", "p50 ms", "µs per request"], rows)


def middleware_names(service: Service, launcher: Path, otlp: str) -> list[str]:
    """The class names of the default render's `app.user_middleware`, outermost first."""
    with tempfile.NamedTemporaryFile(suffix=".json") as listing:
        env = {**service.env(otlp), "BENCH_LIST": listing.name}
        service.rendered.run(service.python, launcher, service.package, env=env)
        names: list[str] = json.loads(Path(listing.name).read_text())
    return names


def layer_targets(
    default: Service, plain: Service, launcher: Path, otlp: str
) -> tuple[list[Target], dict[str, str]]:
    """The launcher on the default render with one layer removed at a time; the cost table's
    row labels, each with its target's name."""

    def launched(
        name: str, service: Service, remove: str = "", skip: str = "", **extra: str
    ) -> Target:
        env = {**service.env(otlp, extra), "BENCH_REMOVE": remove, "BENCH_SKIP": skip}
        argv: list[str | Path] = [service.python, launcher, service.package]
        return Target(
            name,
            argv,
            service.rendered.path,
            env,
            LAYER_ENDPOINTS,
            port_variable=f"{service.prefix}PORT",
        )

    targets = [launched(FULL, default)]
    layers = {}
    for middleware in middleware_names(default, launcher, otlp):
        layers[middleware] = f"layers: -{middleware}"
        targets.append(launched(layers[middleware], default, middleware))
    extra = {
        "access logging (LOG_LEVEL=WARNING)": {"LOG_LEVEL": "WARNING"},
        "tracing at 100 % -> 10 % (TRACE_SAMPLE_RATIO=0.1)": {"TRACE_SAMPLE_RATIO": "0.1"},
        # A setting that adds: its cost is the row's negative.
        "FastAPI's operation spans turned on (TRACE_OPERATION_SPANS=true)": {
            "TRACE_OPERATION_SPANS": "true"
        },
        # Not layers but the items read's suspects: a round trip per checkout, a small pool.
        "pool pre-ping (DB_POOL_PRE_PING=false)": {"DB_POOL_PRE_PING": "false"},
        "pool 5+5 -> 25+25 (DB_POOL_SIZE, DB_MAX_OVERFLOW)": {
            "DB_POOL_SIZE": "25",
            "DB_MAX_OVERFLOW": "25",
        },
    }
    for label, settings in extra.items():
        layers[label] = f"layers: {label}"
        targets.append(launched(layers[label], default, **settings))
    # Code-level layers the launcher bypasses (scripts/bench/baselines.py, BENCH_SKIP).
    skipped = {
        "response validation (FastAPI's, of what the endpoint returns)": "response_validation",
        "cursor signing (the HMAC of next_cursor)": "cursor_signing",
        "the session dependency's guards (deadlines, watchdog, error mapping)": "session_guards",
    }
    for label, name in skipped.items():
        layers[label] = f"layers: -{name}"
        targets.append(launched(layers[label], default, skip=name))
    layers["tracing and metrics (the plain render)"] = "layers: plain"
    targets.append(launched("layers: plain", plain))
    return targets, layers


FAILED = WrkResult(rate=0.0, p50_ms=0.0, p99_ms=0.0, requests=0)


def measure_round(
    target: Target, servers: Servers, measured: Measurements, args: argparse.Namespace
) -> None:
    """A fresh process: its cold start and idle RSS, then wrk on each endpoint. A target that
    fails to start records no answers for the round (the report says so) and the run goes on."""
    try:
        started = start(
            servers, target.argv, cwd=target.cwd, env=target.env, port_variable=target.port_variable
        )
    except (AssertionError, RuntimeError) as exc:
        print(f"  [{target.name}] did not start: {exc}")
        for endpoint in target.endpoints:
            measured.results.setdefault((target.name, endpoint), []).append(FAILED)
        return
    measured.cold.setdefault(target.name, []).append(started.cold_start)
    measured.rss.setdefault(target.name, []).append(started.rss_mib)
    try:
        for endpoint in target.endpoints:
            result = _load(target, started.server, endpoint, args)
            measured.results.setdefault((target.name, endpoint), []).append(result)
    finally:
        try:
            started.server.stop()
        except AssertionError:
            print(f"  [{target.name}] did not stop within 15 s: killed")
            started.server.kill()


def _load(target: Target, server: Server, endpoint: str, args: argparse.Namespace) -> WrkResult:
    """A warm-up, then the measurement, printed as it comes (with the server's last log lines
    when anything failed)."""
    path, headers = target.request(endpoint)
    url = server.url + path
    try:
        wrk.run(url, seconds=WARM_UP_SECONDS, connections=args.connections, headers=headers)
        result = wrk.run(url, seconds=args.seconds, connections=args.connections, headers=headers)
    except (RuntimeError, ValueError) as exc:
        print(f"  [{target.name}] {endpoint}: wrk failed: {exc}")
        return FAILED
    errors = "" if not result.errors else f" ERRORS: {result.describe_errors()}"
    if result.errors or not result.requests:
        errors += "\n" + "\n".join(server.stderr().splitlines()[-5:])
    print(
        f"  [{target.name}] {endpoint}: {result.rate:,.0f} req/s, p50 "
        f"{result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms{errors}",
        flush=True,
    )
    return result


def versioning_table(results: Results, renders: Sequence[str]) -> str:
    """header and mounted against url_path (the default render), per endpoint."""
    pairs = [
        (name, name.replace("header", "default").replace("mounted", "default"))
        for name in renders
        if name.split("@")[0] in ("header", "mounted")
    ]
    pairs = [(name, base) for name, base in pairs if base in renders]
    if not pairs:
        return ""
    rows = []
    for endpoint in ENDPOINTS:
        row = [f"`{endpoint}`"]
        for name, base in pairs:
            rates = [r.rate for r in results[(name, endpoint)]]
            row.append(f"{median_ratio(rates, [r.rate for r in results[(base, endpoint)]]):.2f}")
        rows.append(row)
    return markdown_table(["endpoint", *(f"{n} / {b}" for n, b in pairs)], rows)
