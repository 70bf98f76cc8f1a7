"""The processes the benchmark measures: rendered services and their bare baselines.

Every server runs pinned to core 0 (`taskset -c 0`) with production settings, one worker,
MAX_REQUESTS=0 and spans exported to a loopback OTLP sink; wrk runs on core 1.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from local_issuer import Issuer
from process import LOOPBACK, Server, Servers, free_port
from rendering import Rendered, render

# Servers is re-exported: the benchmark's modules start processes through it.
__all__ = [
    "Server",
    "Servers",
    "Service",
    "Sink",
    "Started",
    "check_postgres",
    "otlp_sink",
    "prepare",
    "seed",
    "start",
]

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
SERVER_CORE = 0
SEED_ITEMS = 50
POSTGRES_MISSING = (
    "PostgreSQL is not reachable at 127.0.0.1:5432 as user postgres (trust auth) with psql: "
    "start it (the template's tests use the same server)"
)


class Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that accepts every export and counts the bytes."""

    received = 0

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        Sink.received += len(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def otlp_sink() -> Iterator[str]:
    server = ThreadingHTTPServer((LOOPBACK, 0), Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()


def psql(statement: str) -> None:
    argv = ["psql", "-h", LOOPBACK, "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c", statement]
    subprocess.run(argv, check=True, capture_output=True, text=True)


def check_postgres() -> None:
    """SystemExit with a clear message when psql or the server is missing."""
    if shutil.which("psql") is None:
        raise SystemExit(f"psql is not installed. {POSTGRES_MISSING}")
    try:
        psql("SELECT 1")
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{POSTGRES_MISSING}\n{exc.stderr.strip()}") from None


@dataclass
class Service:
    """A rendered, installed and migrated service."""

    name: str
    rendered: Rendered
    database_url: str
    issuer: Issuer | None = None  # with OIDC: where its tokens come from (started by the caller)

    @property
    def credential(self) -> dict[str, str]:
        """The headers every request sends: a token of its issuer, with OIDC; none without."""
        return self.issuer.headers if self.issuer else {}

    @property
    def package(self) -> str:
        return self.rendered.package

    @property
    def prefix(self) -> str:
        return self.rendered.env_prefix

    @property
    def python(self) -> Path:
        return self.rendered.venv_bin()

    @property
    def versioning(self) -> str:
        return str(self.rendered.answers.get("api_versioning", "url_path"))

    def env(self, otlp: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Production settings, one worker, every span exported to the `otlp` sink."""
        prefix = self.prefix
        settings = {
            "ENVIRONMENT": "production",
            "SECRET_KEY": secrets.token_hex(20),
            "DATABASE_URL": self.database_url,
            "MAX_REQUESTS": "0",  # a recycled worker would drop connections mid-measurement
            "OTLP_TRACES_ENDPOINT": f"{otlp}/v1/traces",
            "TRACE_SAMPLE_RATIO": "1.0",
            "HOST": LOOPBACK,
            **(self.issuer.settings if self.issuer else {}),
            **(extra or {}),
        }
        env = {f"{prefix}{key}": value for key, value in settings.items()}
        return {**self.rendered.uv_env(), **env, "WEB_CONCURRENCY": "1"}


def prepare(name: str, answers: Mapping[str, object], root: Path, ref: str) -> Service:
    """Render `answers` at `ref`, install, create and migrate its database."""
    started = time.monotonic()
    rendered = render(root / name.replace("@", "-"), answers, vcs_ref=ref)
    rendered.uv("sync", about="pyproject.toml")
    database = "bench_" + "".join(c if c.isalnum() else "_" for c in name)
    psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{database}"')
    service = Service(name, rendered, POSTGRES.format(name=database))
    env = {**rendered.uv_env(), f"{service.prefix}DATABASE_URL": service.database_url}
    rendered.uv("run", "alembic", "upgrade", "head", env=env, about="alembic.ini")
    print(
        f"[{name}] rendered at {ref}, installed and migrated in {time.monotonic() - started:.0f} s"
    )
    return service


def seed(url: str, headers: Mapping[str, str] | None = None) -> None:
    """Items with tags, through the API (so both of the list's queries return rows)."""
    with httpx.Client(base_url=url, timeout=10, headers=headers) as client:
        for number in range(SEED_ITEMS):
            body = {
                "name": f"item {number}",
                "price_cents": 100 * number,
                "tags": [f"tag{number % 3}", "bench"],
            }
            client.post("/v1/items", json=body).raise_for_status()


@dataclass
class Started:
    """A measured process: the server, its cold start (s) and idle RSS (MiB)."""

    server: Server
    cold_start: float
    rss_mib: float
    log_files: list[Path] = field(default_factory=list)


def process_tree_rss_mib(pid: int) -> float:
    """VmRSS summed over `pid` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total_kib, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


def wait_first_200(server: Server, path: str, timeout: float = 60.0) -> float:
    """Seconds from spawn to the first 200 on `path`, polled every 10 ms."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"the server exited before {path} answered\n{server.describe()}")
            try:
                if client.get(server.url + path).status_code == 200:
                    return time.monotonic() - server.started_at
            except httpx.TransportError:
                pass
            time.sleep(0.01)
    raise RuntimeError(f"{path} did not answer 200 within {timeout:.0f} s\n{server.describe()}")


def start(
    servers: Servers,
    argv: list[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str],
    ready: str = "/readyz",
    port_variable: str = "PORT",
) -> Started:
    """Spawn `argv` pinned to the server core; measure cold start and idle RSS."""
    port = free_port()
    full_env = {**env, port_variable: str(port)}
    pinned: list[str | Path] = ["taskset", "-c", str(SERVER_CORE), *argv]
    server = servers.start(pinned, cwd=cwd, env=full_env, port=port)
    cold = wait_first_200(server, "/livez")
    server.wait_ready(ready, timeout=60)
    time.sleep(0.3)  # let startup work (first exports, pool warm-up) settle before reading RSS
    return Started(server, cold, process_tree_rss_mib(server.pid))
