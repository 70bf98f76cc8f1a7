"""Every error is application/problem+json (RFC 9457) with the request id; a 500 leaks nothing."""

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query

from .conftest import serve

PROBLEM = "application/problem+json"


def add_failing_routes(app: FastAPI) -> None:
    router = APIRouter(prefix="/errors-under-test")

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("password=hunter2 in a connection string")

    @router.get("/typed")
    async def typed(
        limit: Annotated[int, Query(ge=1, le=100)], cursor: Annotated[str, Query()]
    ) -> dict[str, int]:
        return {"limit": limit}

    app.include_router(router)


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-route", headers={"X-Request-ID": "req-0123456789"})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["request_id"] == "req-0123456789"


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/livez")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert "GET" in response.headers["allow"]


async def test_validation_error_lists_every_field(app: FastAPI) -> None:
    add_failing_routes(app)
    async with serve(app) as client:
        response = await client.get("/errors-under-test/typed", params={"limit": "0"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    fields = {error["field"]: error["type"] for error in body["errors"]}
    assert fields == {"query.limit": "greater_than_equal", "query.cursor": "missing"}
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_unhandled_error_is_a_500_that_leaks_nothing(
    app: FastAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    add_failing_routes(app)
    async with serve(app) as client:
        response = await client.get("/errors-under-test/crash")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["detail"] == "An unexpected error occurred."
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    # The traceback is in the log, tied to the same request id.
    logged = capsys.readouterr().out
    assert "RuntimeError" in logged
    assert body["request_id"] in logged
