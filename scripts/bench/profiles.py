"""`--profile DIR`: where the time of each endpoint goes, under wrk load.

py-spy (installed into the rendered virtualenv) samples the server from outside and writes a
speedscope profile per endpoint (open it at https://www.speedscope.app). When py-spy cannot
ptrace here, pyinstrument wraps the ASGI app in the launcher instead (an HTML report each).
"""

from __future__ import annotations

import argparse
import subprocess
import threading
from pathlib import Path

from . import wrk
from .services import Servers, Service, start
from .targets import ENDPOINTS


def _slug(endpoint: str) -> str:
    return endpoint.strip("/").replace("/", "_").replace("?", "_").replace("=", "") or "root"


def _install(service: Service, package: str) -> None:
    service.rendered.uv("pip", "install", "--python", service.python, package)


def _py_spy(
    service: Service,
    *,
    servers: Servers,
    otlp: str,
    endpoint: str,
    args: argparse.Namespace,
    out: Path,
) -> bool:
    """One endpoint under py-spy; False when py-spy could not attach."""
    started = start(
        servers,
        [service.python, "-m", service.package],
        cwd=service.rendered.path,
        env=service.env(otlp),
        port_variable=f"{service.prefix}PORT",
    )
    try:
        py_spy = service.python.parent / "py-spy"
        argv = [
            str(py_spy),
            "record",
            "--pid",
            str(started.server.pid),
            "--format",
            "speedscope",
            "--duration",
            str(max(1, round(args.seconds))),
            "--output",
            str(out),
            "--nonblocking",
        ]
        load = threading.Thread(
            target=wrk.run,
            args=(started.server.url + endpoint,),
            kwargs={"seconds": args.seconds, "connections": args.connections},
        )
        load.start()
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        load.join()
    finally:
        started.server.stop()
    if result.returncode != 0:
        print(f"py-spy could not record ({result.returncode}): {result.stderr.strip()[-400:]}")
        return False
    return True


def _pyinstrument(
    service: Service,
    *,
    servers: Servers,
    otlp: str,
    endpoint: str,
    args: argparse.Namespace,
    launcher: Path,
    out: Path,
) -> None:
    env = {**service.env(otlp), "BENCH_PYINSTRUMENT": str(out)}
    started = start(
        servers,
        [service.python, launcher, service.package],
        cwd=service.rendered.path,
        env=env,
        port_variable=f"{service.prefix}PORT",
    )
    try:
        wrk.run(started.server.url + endpoint, seconds=args.seconds, connections=args.connections)
    finally:
        started.server.stop()


def profile_endpoints(
    service: Service, args: argparse.Namespace, servers: Servers, otlp: str, launcher: Path
) -> None:
    """A profile of each endpoint of `service` (the default render) into args.profile."""
    directory: Path = args.profile.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    _install(service, "py-spy")
    fallback = False
    for endpoint in ENDPOINTS:
        out = directory / f"{service.name}_{_slug(endpoint)}.speedscope.json"
        if not fallback and _py_spy(
            service, servers=servers, otlp=otlp, endpoint=endpoint, args=args, out=out
        ):
            print(f"profile of {endpoint}: {out} (open it at https://www.speedscope.app)")
            continue
        if not fallback:
            print("py-spy cannot ptrace the server here: falling back to pyinstrument")
            _install(service, "pyinstrument")
            fallback = True
        html = directory / f"{service.name}_{_slug(endpoint)}.pyinstrument.html"
        _pyinstrument(
            service,
            servers=servers,
            otlp=otlp,
            endpoint=endpoint,
            args=args,
            launcher=launcher,
            out=html,
        )
        print(f"profile of {endpoint}: {html}")
