"""Every error is `application/problem+json` (RFC 9457) and carries the request id.

HTTP errors keep their status and detail; validation errors list each failing field; anything
unhandled becomes a 500 that says nothing about the internals (the traceback goes to the log).
A 405, and an OPTIONS request, list every method of the path in `Allow`.
"""

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logging import get_logger
from .requests import request_id_of, request_path

PROBLEM_JSON = "application/problem+json"
logger = get_logger("errors")


class ProblemError(Exception):
    """An error the client caused or can act on, raised by services (which never import FastAPI).

    Subclasses set `status_code` and a default `detail`; both become the problem response.
    """

    status_code = 400
    detail = "The request cannot be processed."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail


class NotFoundError(ProblemError):
    status_code = 404
    detail = "The resource does not exist."


class ConflictError(ProblemError):
    status_code = 409
    detail = "The request conflicts with the current state of the resource."


class FieldProblem(BaseModel):
    """One field that failed validation."""

    field: str = Field(description="Where: body.name, query.limit, path.item_id...")
    message: str
    type: str = Field(description="The kind of failure, e.g. missing, string_too_long.")


class Problem(BaseModel):
    """Problem details (RFC 9457): the body of every error response."""

    type: str = Field("about:blank", description="A URI naming the problem type.")
    title: str = Field(description="The status phrase, e.g. Not Found.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong, for a human.")
    instance: str = Field(description="The path the request was made to.")
    request_id: str | None = Field(description="The X-Request-ID of the request, for the logs.")


class ValidationProblem(Problem):
    """A problem whose `errors` list each field that failed validation (422)."""

    errors: list[FieldProblem]


class ProblemResponse(JSONResponse):
    """problem+json, ASCII-escaped: a field name echoed from a hostile body may hold a lone
    surrogate, which has no UTF-8 encoding but does have a JSON escape."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


def _phrases(status: int) -> tuple[str, str]:
    try:
        known = HTTPStatus(status)
    except ValueError:  # any code a handler may use, not only those the stdlib names
        return f"HTTP {status}", f"The request ended with status {status}."
    return known.phrase, known.description


def problem(
    scope: Scope,
    status: int,
    *,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem details response; `extensions` become extra members (RFC 9457, section 3.2)."""
    title, description = _phrases(status)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail if detail is not None else description,
        "instance": request_path(scope),
        "request_id": request_id_of(scope),
        **extensions,
    }
    return ProblemResponse(jsonable_encoder(body), status_code=status, headers=headers)


def allowed_methods(app: FastAPI, scope: Scope) -> str:
    """Every method the routes of this path answer (one route per method in FastAPI)."""
    methods = {"OPTIONS"}
    for route in iter_route_contexts(app.router.routes):  # included routers' routes too
        if route.matches(scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: HTTPException) -> Response:
    headers = dict(exc.headers or {})
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        # Starlette names only the methods of the first route of the path.
        headers["Allow"] = allowed_methods(request.app, request.scope)
        if request.method == "OPTIONS":
            return Response(status_code=HTTPStatus.NO_CONTENT, headers=headers)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem(request.scope, exc.status_code, detail=detail, headers=headers)


def problem_of(scope: Scope, exc: ProblemError) -> JSONResponse:
    """The answer to a `ProblemError`: its status and detail; a 503 says when to retry."""
    busy = exc.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    headers = {"Retry-After": "1"} if busy else None
    return problem(scope, exc.status_code, detail=exc.detail, headers=headers)


async def _problem_error(request: Request, exc: ProblemError) -> JSONResponse:
    return problem_of(request.scope, exc)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {
            "field": ".".join(str(part) for part in error["loc"]),
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors()
    ]
    return problem(
        request.scope,
        422,
        detail=f"{len(errors)} field(s) failed validation.",
        errors=errors,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the problem+json handlers (each mounted sub-application needs its own)."""
    app.exception_handler(HTTPException)(_http_error)
    app.exception_handler(ProblemError)(_problem_error)
    app.exception_handler(RequestValidationError)(_validation_error)


class UnhandledErrorMiddleware:
    """Turn an exception nobody handled into a 500 problem, logged with its traceback.

    An HTTPException a middleware raised (the body size limit) becomes its own problem.

    It sits inside the request-id and access-log middleware, so the 500 carries the request id
    and is counted, instead of being produced by Starlette's outermost error middleware.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except HTTPException as exc:  # raised by a middleware, outside the error handlers
            if response_started:
                raise
            detail = exc.detail if isinstance(exc.detail, str) else None
            await problem(scope, exc.status_code, detail=detail, headers=exc.headers)(
                scope, receive, send
            )
        except Exception:
            logger.exception("unhandled_error", method=scope["method"], path=scope["path"])
            if response_started:
                raise  # too late for a clean answer; let the server abort the connection
            await problem(scope, 500, detail="An unexpected error occurred.")(scope, receive, send)
