"""Requests per second of `GET /v1/about` with `metrics` on versus off, measured in one run.

Renders two services that differ only in `metrics` (no database, uvicorn, one worker), starts
each as a real server (`python -m <package>`, production settings) and drives it with a small
keep-alive HTTP/1.1 client on asyncio streams (httpx would be the bottleneck). Rounds alternate
between the two so drift on a shared machine hits both. Prints each round and the medians.

    uv run python scripts/bench_metrics.py [--rounds 3] [--seconds 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from rendering import BIN, PYTHONS, Rendered, render

PATH = "/v1/about"
REQUEST = f"GET {PATH} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def connection(port: int, until: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    while time.monotonic() < until:
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        assert head.startswith(b"HTTP/1.1 200"), head
        done += 1
    writer.close()
    counts.append(done)


async def load(port: int, seconds: float, connections: int) -> float:
    counts: list[int] = []
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(*(connection(port, until, counts) for _ in range(connections)))
    return sum(counts) / (time.monotonic() - started)


def measure(project: Rendered, seconds: float, connections: int) -> float:
    port = free_port()
    prefix = project.answers["package_name"].upper() + "_"
    env = {
        **os.environ,
        **project.uv_env(),
        f"{prefix}PORT": str(port),
        f"{prefix}ENVIRONMENT": "production",
        f"{prefix}SECRET_KEY": secrets.token_urlsafe(32),
        f"{prefix}LOG_LEVEL": "WARNING",
        f"{prefix}MAX_REQUESTS": "0",  # one worker and no supervisor: a recycle would end it
        "WEB_CONCURRENCY": "1",
    }
    command = [str(BIN / "uv"), "run", "--locked", "python", "-m", project.answers["package_name"]]
    server = subprocess.Popen(
        command, cwd=project.path, env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        asyncio.run(load(port, 2, connections))  # warm-up
        return asyncio.run(load(port, seconds, connections))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        projects = {}
        for metrics in (True, False):
            answers = {"database": "none", "metrics": metrics, "project_name": "Bench Svc"}
            project = render(Path(tmp) / f"metrics-{metrics}", answers)
            project.uv("lock")
            project.uv("sync", "--locked")
            projects["on" if metrics else "off"] = project
        results: dict[str, list[float]] = {"on": [], "off": []}
        for round_ in range(1, args.rounds + 1):
            for name in ("off", "on") if round_ % 2 else ("on", "off"):
                rps = measure(projects[name], args.seconds, args.connections)
                results[name].append(rps)
                print(f"round {round_}: metrics {name:3}: {rps:8.0f} requests/s", flush=True)
        on, off = statistics.median(results["on"]), statistics.median(results["off"])
        python = PYTHONS["3.13"]
        print(f"GET {PATH}, 1 uvicorn worker, {args.connections} connections, {python}")
        print(f"median: metrics off {off:.0f} requests/s, on {on:.0f} requests/s")
        print(f"metrics cost {100 * (off - on) / off:.1f} % of the throughput")


if __name__ == "__main__":
    main()
