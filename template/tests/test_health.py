"""Probes: liveness never depends on anything, readiness follows the critical checks."""

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import FastAPI

from .conftest import on_startup, serve


async def _refused() -> None:
    raise ConnectionRefusedError("database down")


async def _hangs() -> None:
    await asyncio.sleep(30)


async def _answers() -> None:
    return None


async def _hangs_and_cleans_up_slowly() -> None:
    """A client to a dependency that hangs: cancelled, it still closes gracefully for 2 s."""
    try:
        await asyncio.sleep(30)
    finally:
        await asyncio.shield(asyncio.sleep(2))


def register_checks(app: FastAPI, **checks: tuple[Any, bool]) -> None:
    """Register checks in the lifespan, exactly as a component that owns a client does."""

    def register(state: Mapping[str, Any]) -> None:
        for name, (check, critical) in checks.items():
            state["health"].add(name, check, critical=critical, timeout=0.2)

    on_startup(app, register)


async def test_livez_is_always_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_and_startupz_ok_when_dependencies_are(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert all(check["status"] == "ok" for check in body["checks"].values())
    assert (await client.get("/startupz")).json() == {"started": True}


async def test_failing_critical_check_makes_readyz_503_but_not_livez(app: FastAPI) -> None:
    register_checks(app, ledger=(_refused, True), cache=(_answers, False))
    async with serve(app) as client:
        response = await client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "fail"
        assert body["checks"]["ledger"]["status"] == "fail"
        assert body["checks"]["ledger"]["error"] == "ConnectionRefusedError"
        assert body["checks"]["cache"]["status"] == "ok"
        assert body["checks"]["cache"]["latency_ms"] >= 0
        assert (await client.get("/startupz")).status_code == 503
        assert (await client.get("/livez")).status_code == 200


async def test_hanging_check_times_out_within_its_limit(app: FastAPI) -> None:
    register_checks(app, partner=(_hangs, True))
    async with serve(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    check = response.json()["checks"]["partner"]
    assert check["status"] == "timeout"
    assert 150 <= check["latency_ms"] < 1000


async def test_check_answers_at_its_limit_even_when_its_cleanup_is_slow(app: FastAPI) -> None:
    register_checks(app, partner=(_hangs_and_cleans_up_slowly, True))
    async with serve(app) as client:
        started = time.perf_counter()
        response = await client.get("/readyz")
        elapsed = time.perf_counter() - started
    assert response.status_code == 503
    assert response.json()["checks"]["partner"]["status"] == "timeout"
    assert elapsed < 1.0, f"/readyz took {elapsed:.2f} s for a 0.2 s check limit"


async def test_failing_non_critical_check_degrades_but_stays_ready(app: FastAPI) -> None:
    register_checks(app, search=(_refused, False), ledger=(_answers, True))
    async with serve(app) as client:
        response = await client.get("/readyz")
        startup = await client.get("/startupz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert startup.json() == {"started": True}
