"""What tracing and metrics cost a generated service: requests/s with both on versus both off.

Renders two services that differ only in `tracing` and `metrics`, installs them, migrates a
PostgreSQL database for each, starts them one at a time with one uvicorn worker (the production
command, production settings, every span sampled and exported to a local OTLP/HTTP sink that
answers 200), and drives each endpoint with the same closed-loop load. Rounds alternate between
the variants so that drift of the machine hits both; the medians and their ratio are printed.

    uv run python scripts/bench_observability.py [--seconds 8] [--rounds 3] [--concurrency 32]

Needs the PostgreSQL the template's tests use (127.0.0.1:5432, user postgres, trust auth).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from process import LOOPBACK, Server, Servers, free_port
from rendering import BIN, Rendered, render

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
COMMON = {"project_name": "Bench Service", "database": "postgresql", "queue": "none"}
VARIANTS = {
    "off": {"tracing": "none", "metrics": False},
    "on": {"tracing": "jaeger", "metrics": True},
}
ENDPOINTS = ("/v1/about", "/v1/items?limit=20")
SEED_ITEMS = 50


@dataclass
class Service:
    name: str
    rendered: Rendered
    prefix: str
    package: str
    database_url: str
    sample_ratio: str = "1.0"

    def env(self, port: int, otlp_endpoint: str) -> dict[str, str]:
        prefix = self.prefix
        return {
            **self.rendered.uv_env(),
            f"{prefix}PORT": str(port),
            f"{prefix}HOST": LOOPBACK,
            f"{prefix}ENVIRONMENT": "production",
            f"{prefix}SECRET_KEY": secrets.token_hex(20),
            f"{prefix}DATABASE_URL": self.database_url,
            f"{prefix}LOG_LEVEL": "WARNING",  # the same (quiet) logging in both variants
            # A recycled worker would drop connections mid-measurement (and cost a restart).
            f"{prefix}MAX_REQUESTS": "0",
            f"{prefix}OTLP_TRACES_ENDPOINT": f"{otlp_endpoint}/v1/traces",
            f"{prefix}TRACE_SAMPLE_RATIO": self.sample_ratio,
            "WEB_CONCURRENCY": "1",
        }


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


def prepare(name: str, answers: dict[str, object], root: Path) -> Service:
    started = time.monotonic()
    rendered = render(root / name, {**COMMON, **answers})
    rendered.uv("sync", about="pyproject.toml")
    package = str(rendered.answers["package_name"])
    database = f"bench_observability_{name}"
    psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{database}"')
    service = Service(
        name, rendered, package.upper() + "_", package, POSTGRES.format(name=database)
    )
    env = {**rendered.uv_env(), f"{service.prefix}DATABASE_URL": service.database_url}
    rendered.uv("run", "alembic", "upgrade", "head", env=env, about="alembic.ini")
    print(f"[{name}] rendered, installed and migrated in {time.monotonic() - started:.1f} s")
    return service


def start(service: Service, servers: Servers, otlp_endpoint: str) -> Server:
    port = free_port()
    env = service.env(port, otlp_endpoint)
    python = service.rendered.path / ".venv" / "bin" / "python"
    argv: list[str | Path] = [python, "-m", service.package]
    server = servers.start(argv, cwd=service.rendered.path, env=env, port=port)
    server.wait_ready("/readyz", timeout=60)
    return server


async def load(port: int, path: str, *, seconds: float, concurrency: int) -> float:
    """Closed-loop load: `concurrency` keep-alive connections send requests back to back;
    returns requests/s. A bare HTTP/1.1 client: an HTTP library would cost more CPU than the
    service on this machine and flatten the difference being measured."""
    request = f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()
    done = 0
    deadline = time.monotonic() + seconds

    async def one_connection() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = head.split(b" ", 2)[1]
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                if status != b"200":
                    raise RuntimeError(f"{path}: {status.decode()} {body[:200]!r}")
                done += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(one_connection() for _ in range(concurrency)))
    return done / (time.monotonic() - started)


def seed(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for number in range(SEED_ITEMS):
            body = {"name": f"item {number}", "price_cents": 100 * number}
            response = client.post("/v1/items", json=body)
            response.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="load time per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per variant")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    args = parser.parse_args()

    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, otlp_sink() as endpoint:
        root = Path(tmp)
        services = [prepare(name, answers, root) for name, answers in VARIANTS.items()]
        # The same "on" service sampling one trace in ten, as a busy production service would.
        services.append(replace(services[-1], name="on 10%", sample_ratio="0.1"))
        with Servers(root / "logs") as servers:
            for service in services[:2]:
                server = start(service, servers, endpoint)
                seed(server)
                server.stop()
            for round_number in range(1, args.rounds + 1):
                for service in services:
                    server = start(service, servers, endpoint)
                    asyncio.run(load(server.port, ENDPOINTS[0], seconds=1, concurrency=4))
                    for path in ENDPOINTS:
                        rate = asyncio.run(
                            load(
                                server.port,
                                path,
                                seconds=args.seconds,
                                concurrency=args.concurrency,
                            )
                        )
                        results.setdefault((service.name, path), []).append(rate)
                        print(f"round {round_number} [{service.name}] GET {path}: {rate:.0f} req/s")
                    server.stop()
    print(f"\nOTLP sink received {Sink.received / 1e6:.1f} MB of spans")
    names = [service.name for service in services]
    print(f"\n{'req/s (ratio to off)':24}" + "".join(f"{name:>18}" for name in names))
    for path in ENDPOINTS:
        medians = [statistics.median(results[(name, path)]) for name in names]
        cells = "".join(f"{rate:10.0f} ({rate / medians[0]:4.2f})" for rate in medians)
        print(f"{path:24}{cells}")
    print(
        f"(medians of {args.rounds} rounds of {args.seconds:g} s, {args.concurrency} clients, "
        f"one uvicorn worker, uv {BIN / 'uv'})"
    )


if __name__ == "__main__":
    main()
