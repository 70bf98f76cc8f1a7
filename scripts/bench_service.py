"""How close a generated service is to bare FastAPI, and what each of its layers costs.

Renders answer sets of the template (at HEAD, or at each `--ref`), installs them, migrates and
seeds a PostgreSQL database for each, and measures them with wrk against bare baselines run on
the rendered service's own virtualenv (same FastAPI, Starlette, uvicorn, uvloop, httptools):
bare FastAPI for `/livez` and `/v1/about`, bare FastAPI + async SQLAlchemy running the same two
queries for `/v1/items?limit=20`. Servers run pinned to core 0, wrk (`-t2`) pinned to core 1,
production settings, one worker, MAX_REQUESTS=0, every span exported to a loopback OTLP sink.
Rounds interleave every target, a fresh process per target per round; every figure is a median
of per-round ratios (or differences) against a baseline measured in the same round.

    uv run python scripts/bench_service.py [--rounds 5] [--seconds 8] [--connections 50]
        [--ref REF ...] [--only NAME ...] [--profile DIR] [--output FILE.md]

Needs wrk (`apt-get install wrk`) and the PostgreSQL of the template's tests (127.0.0.1:5432,
user postgres, trust auth). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench import baselines, services, wrk
from bench.profiles import profile_endpoints
from bench.report import cost_table, ratio_table, startup_table
from bench.targets import (
    COMMON,
    DATABASE_READ,
    ENDPOINTS,
    LAYER_ENDPOINTS,
    RENDER_SETS,
    Measurements,
    Target,
    baseline_targets,
    cache_table,
    item_read_target,
    layer_targets,
    measure_round,
    render_target,
    versioning_table,
)
from local_issuer import issuer_for

ROOT = Path(__file__).resolve().parent.parent


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--seconds", type=float, default=8.0, help="wrk time per endpoint")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (-c)")
    parser.add_argument(
        "--ref", action="append", default=[], help="git ref to render (repeat: before/after)"
    )
    choices = [*RENDER_SETS, "layers"]
    parser.add_argument(
        "--only", action="append", choices=choices, default=[], help="answer sets to measure"
    )
    parser.add_argument("--profile", type=Path, help="record py-spy profiles into this directory")
    parser.add_argument("--output", type=Path, help="also write the markdown report here")
    return parser.parse_args()


def prepare_all(args: argparse.Namespace, root: Path) -> dict[str, services.Service]:
    """Every answer set at every ref, rendered, installed, migrated and seeded."""
    refs = args.ref or ["HEAD"]
    wanted = [name for name in RENDER_SETS if not args.only or name in args.only]
    if "default" not in wanted:
        wanted.insert(0, "default")  # the baselines read its seeded database
    if "layers" in args.only and "plain" not in wanted:
        wanted.append("plain")
    prepared = {}
    for ref in refs:
        for name in wanted:
            label = name if len(refs) == 1 else f"{name}@{ref}"
            answers = {**COMMON, **RENDER_SETS[name]}
            prepared[label] = services.prepare(label, answers, root, ref)
    return prepared


def seed_all(prepared: dict[str, services.Service], servers: services.Servers, otlp: str) -> None:
    for service in prepared.values():
        started = services.start(
            servers,
            [service.python, "-m", service.package],
            cwd=service.rendered.path,
            env=service.env(otlp),
            port_variable=f"{service.prefix}PORT",
        )
        services.seed(started.server.url, service.credential)
        started.server.stop()


def versions(service: services.Service) -> str:
    code = (
        "import fastapi, starlette, uvicorn, sqlalchemy, sys; "
        "print(f'Python {sys.version.split()[0]}, FastAPI {fastapi.__version__}, Starlette "
        "{starlette.__version__}, uvicorn {uvicorn.__version__}, SQLAlchemy "
        "{sqlalchemy.__version__}')"
    )
    result = subprocess.run(
        [service.python, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def default_of(prepared: dict[str, services.Service]) -> services.Service:
    """The default render of the last ref: the baselines' database, the layers and profiles."""
    return [s for name, s in prepared.items() if name.split("@")[0] == "default"][-1]


def build_targets(
    args: argparse.Namespace,
    prepared: dict[str, services.Service],
    programs: dict[str, Path],
    otlp: str,
) -> tuple[list[Target], list[str], dict[str, str]]:
    """The baselines, one target per render and (unless --only leaves them out) the layers."""
    default = default_of(prepared)
    targets = baseline_targets(default, programs, otlp)
    renders = [name for name in prepared if not args.only or name.split("@")[0] in args.only]
    targets += [render_target(name, prepared[name], otlp) for name in renders]
    if any(name.split("@")[0] == "caching" for name in renders):
        targets.append(item_read_target(default, otlp))  # what a cache hit is measured against
    layers: dict[str, str] = {}
    if not args.only or "layers" in args.only:
        plain = next(s for name, s in prepared.items() if name.split("@")[0] == "plain")
        more, layers = layer_targets(default, plain, programs["launcher"], otlp)
        targets += more
    return targets, renders, layers


def report(
    args: argparse.Namespace,
    measured: Measurements,
    renders: list[str],
    layers: dict[str, str],
    about: str,
) -> str:
    parts = ["### Ratios to the bare baselines", ""]
    parts.append(ratio_table(measured.results, ENDPOINTS, renders))
    versioned = versioning_table(measured.results, renders)
    if versioned:
        parts += ["", "### Versioning strategies against url_path (req/s ratio)", "", versioned]
    # The launcher's variants and the database read start like the default render: their
    # columns would repeat it.
    cold = {
        name: runs
        for name, runs in measured.cold.items()
        if not name.startswith("layers") and name != DATABASE_READ
    }
    cached = cache_table(measured.results, renders)
    if cached:
        parts += ["", "### A cache hit against the database read", "", cached]
    parts += ["", "### Cold start and idle RSS", "", startup_table(cold, measured.rss)]
    if layers:
        parts += ["", "### What each layer costs (default render)", ""]
        parts.append(cost_table(measured.results, "layers: full", layers, LAYER_ENDPOINTS))
    parts += ["", about]
    return "\n".join(parts) + "\n"


def main() -> None:
    args = arguments()
    wrk.wrk_binary()
    services.check_postgres()
    os.sched_setaffinity(
        0, {1}
    )  # this process (and the OTLP sink) shares wrk's core, not the server's
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp, services.otlp_sink() as otlp:
        root = Path(tmp)
        prepared = prepare_all(args, root)
        programs = baselines.write(root / "programs")
        with services.Servers(root / "logs") as servers, ExitStack() as issuers:
            for service in prepared.values():  # a render with OIDC verifies its issuer's tokens
                service.issuer = issuers.enter_context(issuer_for(service.rendered))
            seed_all(prepared, servers, otlp)
            targets, renders, layers = build_targets(args, prepared, programs, otlp)
            measured = Measurements()
            for number in range(args.rounds):
                order = targets[number % len(targets) :] + targets[: number % len(targets)]
                for target in order:
                    measure_round(target, servers, measured, args)
                print(f"round {number + 1}/{args.rounds} done ({time.monotonic() - started:.0f} s)")
            if args.profile:
                profile_endpoints(default_of(prepared), args, servers, otlp, programs["launcher"])
        stack = versions(prepared[next(iter(prepared))])
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    about = (
        f"{args.rounds} rounds x {args.seconds:g} s per endpoint, wrk -t2 -c{args.connections} "
        f"({wrk.version()}), server on core 0, wrk on core 1; {stack}; template {commit}, "
        f"refs {', '.join(args.ref or ['HEAD'])}; {when}; the run took "
        f"{(time.monotonic() - started) / 60:.1f} min; ⚠ = a round had errors; "
        f"OTLP sink received {services.Sink.received / 1e6:.1f} MB."
    )
    text = report(args, measured, renders, layers, about)
    print("\n" + text)
    if args.output:
        args.output.write_text(text)
        print(f"written to {args.output}")


if __name__ == "__main__":
    main()
