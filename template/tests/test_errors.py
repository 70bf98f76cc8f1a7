"""Every error is application/problem+json (RFC 9457) with the request id; a 500 leaks nothing."""

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Query

from .conftest import serve

PROBLEM = "application/problem+json"


def add_failing_routes(app: FastAPI) -> None:
    router = APIRouter(prefix="/errors-under-test")

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("password=hunter2 in a connection string")

    @router.get("/status/{status}")
    async def any_status(status: int) -> None:
        raise HTTPException(status, detail="As asked.")

    @router.post("/body")
    async def body(data: dict[str, int]) -> dict[str, int]:
        return data

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


@pytest.mark.parametrize(("status", "title"), [(418, "I'm a Teapot"), (499, "HTTP 499")])
async def test_any_status_is_a_problem(app: FastAPI, status: int, title: str) -> None:
    add_failing_routes(app)
    async with serve(app) as client:
        response = await client.get(f"/errors-under-test/status/{status}")
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["status"], body["title"]) == (status, title)
    assert body["instance"] == f"/errors-under-test/status/{status}"


async def test_a_body_that_is_not_json_is_a_problem(app: FastAPI) -> None:
    add_failing_routes(app)
    async with serve(app) as client:
        response = await client.post(
            "/errors-under-test/body",
            content=b"\xff{",
            headers={"content-type": "application/json"},
        )
    assert response.status_code in {400, 422}, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_validation_errors_are_documented_as_problems(app: FastAPI) -> None:
    add_failing_routes(app)
    async with serve(app) as client:
        document = (await client.get("/openapi.json")).json()
    responses = document["paths"]["/errors-under-test/typed"]["get"]["responses"]
    schema = responses["422"]["content"][PROBLEM]["schema"]
    assert schema == {"$ref": "#/components/schemas/ValidationProblem"}
    assert list(responses["500"]["content"]) == [PROBLEM]
    assert "HTTPValidationError" not in document["components"]["schemas"]
