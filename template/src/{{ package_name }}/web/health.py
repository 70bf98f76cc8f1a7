"""Probes: /livez (the process), /readyz (its dependencies), /startupz (the process started).

Liveness and startup never touch a dependency: a database outage must take pods out of the load
balancer (readiness), not restart every healthy process in a loop (liveness), nor keep a pod that
starts during the outage restarting until the platform backs off (startup). Readiness shows each
check only where the settings allow (`readiness_details`): elsewhere the body is the status.
"""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from ..kernel.logging import get_logger
from .draining import Drain

LIVENESS_PATH = "/livez"
READINESS_PATH = "/readyz"
STARTUP_PATH = "/startupz"
PROBE_PATHS = frozenset({LIVENESS_PATH, READINESS_PATH, STARTUP_PATH})
# What liveness and startup answer, from their routes and from `ProbeShortcut` alike.
ALIVE = {"status": "ok"}
STARTED = {"status": "started"}

# A check passes when it returns; a dict it returns is shown as the check's details.
Check = Callable[[], Awaitable[object]]
logger = get_logger("health")


class CheckResult(BaseModel):
    """The outcome of one dependency check."""

    status: Literal["ok", "fail", "timeout"]
    critical: bool
    latency_ms: float
    error: str | None = None
    details: dict[str, int | float | str] | None = None


class Readiness(BaseModel):
    """The readiness body: overall status, and every check where the settings show them."""

    status: Literal["ok", "degraded", "fail", "draining"]
    checks: dict[str, CheckResult] | None = None


@dataclass(frozen=True, slots=True)
class _Registered:
    check: Check
    critical: bool
    timeout: float


class HealthRegistry:
    """Where components that own a client (database, broker...) register their readiness check."""

    def __init__(
        self, *, default_timeout: float, show_details: bool = True, drain: Drain | None = None
    ) -> None:
        self.default_timeout = default_timeout
        self.show_details = show_details
        self.drain = drain or Drain()
        self._checks: dict[str, _Registered] = {}
        self._abandoned: set[asyncio.Future[object]] = set()

    def add(
        self, name: str, check: Check, *, critical: bool = True, timeout: float | None = None
    ) -> None:
        """Register `check`: it passes when it returns, fails when it raises or times out."""
        if name in self._checks:
            raise ValueError(f"a readiness check named {name!r} is already registered")
        self._checks[name] = _Registered(check, critical, timeout or self.default_timeout)

    async def run(self) -> Readiness:
        """Run every check concurrently, each within its own time limit."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._run_one(self._checks[name]) for name in names))
        checks = dict(zip(names, results, strict=True))
        failed = [result for result in checks.values() if result.status != "ok"]
        status: Literal["ok", "degraded", "fail"] = "ok"
        if any(result.critical for result in failed):
            status = "fail"
        elif failed:
            status = "degraded"
        return Readiness(status=status, checks=checks)

    def _abandon(self, task: asyncio.Future[object]) -> None:
        """Cancel a check past its deadline and let it clean up without anyone waiting."""
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Future[object]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a late failure is no "never retrieved" log line

    async def _run_one(self, registered: _Registered) -> CheckResult:
        started = time.perf_counter()
        status: Literal["ok", "fail", "timeout"] = "ok"
        error = None
        details = None
        # The check runs as a task we stop waiting for at the deadline: cancelling it is not
        # enough, as a client cleaning up after a dependency that hangs (a graceful close) may
        # take seconds more, and the probe must answer within its timeout.
        task = asyncio.ensure_future(registered.check())
        done, _ = await asyncio.wait([task], timeout=registered.timeout)
        try:
            if not done:
                self._abandon(task)
                status, error = "timeout", f"no answer within {registered.timeout:g}s"
            elif isinstance(result := task.result(), dict):
                details = result
        except Exception as exc:  # noqa: BLE001 - a failing dependency is a result, not a crash
            status, error = "fail", type(exc).__name__
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return CheckResult(
            status=status,
            critical=registered.critical,
            latency_ms=latency_ms,
            error=error,
            details=details,
        )


async def _health(request: Request) -> HealthRegistry:
    registry: HealthRegistry = request.state.health
    return registry


HealthDep = Annotated[HealthRegistry, Depends(_health)]
router = APIRouter(tags=["probes"])


@router.get(LIVENESS_PATH)
async def livez() -> dict[str, str]:
    """Liveness: the process answers. Never checks a dependency."""
    return ALIVE


@router.get(READINESS_PATH, response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(health: HealthDep) -> JSONResponse:
    """Readiness: every dependency within its time limit; 503 when a critical one fails or the
    server drains after SIGTERM."""
    if health.drain.started:
        return JSONResponse({"status": "draining"}, status_code=503)
    readiness = await health.run()
    body = readiness.model_dump(mode="json")
    if readiness.status == "fail":
        logger.warning("not_ready", checks=body["checks"])
    status_code = 503 if readiness.status == "fail" else 200
    return JSONResponse(body if health.show_details else {"status": body["status"]}, status_code)


@router.get(STARTUP_PATH)
async def startupz() -> dict[str, str]:
    """Startup: the process runs and its lifespan has started. Never checks a dependency."""
    return STARTED


class ProbeShortcut:
    """Answer GET and HEAD /livez and /startupz before the other middleware (but the drain's)
    and the routing.

    Every kubelet polls them every few seconds, and what they prove (the process and its event
    loop answer) needs none of the request machinery: no request id, access log, metrics or
    span (they are quiet and untraced anyway). Their routes stay, for the OpenAPI document and
    any other method; /readyz, which runs checks, takes the normal way.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bodies = {
            LIVENESS_PATH: json.dumps(ALIVE, separators=(",", ":")).encode(),
            STARTUP_PATH: json.dumps(STARTED, separators=(",", ":")).encode(),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.bodies.get(scope["path"]) if scope["type"] == "http" else None
        if body is None or scope["method"] not in {"GET", "HEAD"}:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if scope["method"] == "HEAD":
            body = b""
        await send({"type": "http.response.body", "body": body})
