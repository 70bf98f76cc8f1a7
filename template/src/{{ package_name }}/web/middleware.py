"""Pure ASGI middleware: request id, access log, the blocking detector and the body size limit.

Pure ASGI (not BaseHTTPMiddleware) keeps streaming responses streaming, keeps contextvars visible
to the endpoint and costs one function call per message.
"""

import os
import re
import time

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..kernel.logging import get_logger
from .blocking import LoopMonitor

REQUEST_ID_HEADER = "X-Request-ID"
BLOCKING_HEADER = "X-Blocking-Time-Ms"
# Accept ids from upstream proxies only when they cannot inject anything into logs or headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

# Probes are polled every few seconds: log them only when they answer with an error.
QUIET_BELOW_STATUS = 400
blocking_logger = get_logger("blocking")


class RequestIdMiddleware:
    """Accept a valid X-Request-ID or make one; echo it and bind it to every log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        # 128 random bits as 32 hex digits, as uuid4().hex (a fifth of its cost).
        request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()
        # A copy per request: servers and test clients may share one lifespan state dict.
        scope["state"] = {**scope.get("state", {}), "request_id": request_id}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**bound)


class AccessLogMiddleware:
    """One log line per request, with status and duration (replaces uvicorn's access log)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        logger: structlog.typing.FilteringBoundLogger,
        quiet_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.logger = logger  # a `line_logger`: this line is written for every request
        self.quiet_paths = quiet_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_capturing_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_capturing_status)
        finally:
            if scope["path"] not in self.quiet_paths or status >= QUIET_BELOW_STATUS:
                fields = {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": scope["client"][0] if scope.get("client") else None,
                }
                # Who called, when a component authenticated the request (integrations/auth):
                # its identity, never its credential.
                if principal := scope.get("state", {}).get("principal"):
                    fields["principal"] = str(principal)
                self.logger.info("request", **fields)


class BlockingDetectorMiddleware:
    """Report how long the event loop was blocked while each request was in flight.

    Development: an X-Blocking-Time-Ms response header, to catch a sync call while writing it.
    Elsewhere: a warning log above `warn_ms`, so production blocking has a route to blame; one
    per blocking episode (the first request to finish after it), not one per request in flight.
    """

    def __init__(
        self, app: ASGIApp, *, monitor: LoopMonitor, expose_header: bool, warn_ms: float
    ) -> None:
        self.app = app
        self.monitor = monitor
        self.expose_header = expose_header
        self.warn_ms = warn_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        before = self.monitor.blocked_seconds()
        first_episode = self.monitor.episode()

        def blocked_ms() -> float:
            return round((self.monitor.blocked_seconds() - before) * 1000, 1)

        async def send_with_blocking(message: Message) -> None:
            if message["type"] == "http.response.start" and self.expose_header:
                MutableHeaders(scope=message)[BLOCKING_HEADER] = str(blocked_ms())
            await send(message)

        try:
            await self.app(scope, receive, send_with_blocking)
        finally:
            total = blocked_ms()
            seen = self.monitor.episode()
            if total > self.warn_ms and self.monitor.claim_report(first_episode, seen):
                blocking_logger.warning(
                    "event_loop_blocked",
                    blocked_ms=total,
                    threshold_ms=self.warn_ms,
                    method=scope["method"],
                    path=scope["path"],
                )


class BodyTooLargeError(HTTPException):
    """An HTTPException: FastAPI hands those raised while it reads the body to the handlers."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"The request body is larger than {limit} bytes.")


class BodySizeLimitMiddleware:
    """Refuse a request body above `max_body_bytes` with a 413, reading no more than the limit.

    A Content-Length above the limit is refused before a byte is read; a chunked body, as soon
    as what arrived passes the limit (raised where the application reads it, so the error
    handlers answer it). `UnhandledErrorMiddleware`, outside this one, turns what is raised here
    into the 413 problem.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise BodyTooLargeError(self.max_body_bytes)
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLargeError(self.max_body_bytes)
            return message

        await self.app(scope, receive_within_limit, send)
