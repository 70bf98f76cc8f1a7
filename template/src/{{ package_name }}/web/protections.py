"""The HTTP protections every service has: trusted hosts, CORS, and an API's security headers.

Pure ASGI, configured by kernel/settings/http.py, and put around the error middleware by the
`HttpProtections` component (components.py lists it after the integrations, so its middleware is
the outermost of theirs). From the outside in:

- `SecurityHeadersMiddleware` on every answer, the host check's 400 included: nosniff, no
  referrer, no framing, a CSP that allows nothing, HSTS when the settings say TLS is in front,
  `Cache-Control: no-store` on problems;
- `TrustedHostMiddleware` (with TRUSTED_HOSTS): a request for another Host is a 400 problem and
  reaches nothing else, neither the routes nor the components' middleware;
- `ProblemCORSMiddleware` (with CORS_ALLOW_ORIGINS): answers preflights before any route or
  dependency runs (an OPTIONS preflight carries no credentials), and adds the CORS headers to
  every answer inside it, 500 problems included, so a browser lets the caller read them.

The probes `/livez` and `/startupz` are answered before all of this (`ProbeShortcut`): their
callers are the platform's, never a browser.
"""

from collections.abc import Iterable
from http import HTTPStatus
from typing import override

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..kernel.errors import PROBLEM_JSON, problem
from ..kernel.requests import route_path
from ..kernel.settings import Settings
from .component import Component
from .health import PROBE_PATHS

# A JSON API's documents need nothing: no script, style, frame or form, and no page may frame
# them. Swagger UI at /docs (development) loads its scripts and styles from a CDN and runs an
# inline script, which this policy would block: HTML answers, the docs being the only ones,
# go without it.
CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors' predecessor, for older browsers
}
_NO_ORIGIN = Headers()


def host_name(host_header: str) -> str:
    """The host a Host header names: lowercase, without the port or a trailing dot."""
    host = host_header.strip().lower()
    if host.startswith("["):  # an IPv6 address keeps its brackets: [::1]:8000 -> [::1]
        return host.partition("]")[0] + "]"
    return host.partition(":")[0].removesuffix(".")


class TrustedHostMiddleware:
    """Answer only requests for the `allowed_hosts` (`*.example.com`: its subdomains).

    The rest is a 400 problem (Starlette's own middleware answers in plain text); a WebSocket is
    closed before its handshake completes (a 403). `exempt_paths` answer any Host: Kubernetes'
    and Cloud Run's probes and a metrics scraper reach the pod at its IP address, so their
    Host is that address, which changes with every pod and no setting can list. What they
    answer is no page of the API (the Kubernetes Ingress does not even route them).
    """

    def __init__(
        self, app: ASGIApp, *, allowed_hosts: Iterable[str], exempt_paths: frozenset[str]
    ) -> None:
        hosts = [host.lower() for host in allowed_hosts]
        self.app = app
        self.names = frozenset(host for host in hosts if not host.startswith("*."))
        self.suffixes = tuple(host[1:] for host in hosts if host.startswith("*."))  # .example.com
        self.exempt_paths = exempt_paths

    def allows(self, scope: Scope) -> bool:
        if route_path(scope) in self.exempt_paths:
            return True
        host = host_name(Headers(scope=scope).get("host", ""))
        return host in self.names or host.endswith(self.suffixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"} or self.allows(scope):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
        else:
            detail = "The Host header names no host this service answers for."
            await problem(scope, 400, detail=detail)(scope, receive, send)


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with two changes: a refused preflight is a 400 problem like
    every error (not plain text), and an answer to an origin not allowed carries no CORS header
    at all (Starlette's still lists the exposed headers and credentials to it)."""

    @override
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await super().__call__(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "origin" not in headers or "access-control-request-method" not in headers:
            await super().__call__(scope, receive, send)  # a plain OPTIONS: the routes' Allow
            return
        response = self.preflight_response(request_headers=headers)
        if response.status_code != HTTPStatus.OK:  # body: "Disallowed CORS origin, method"
            refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
            detail = f"The CORS preflight is refused: {refused} not allowed."
            vary = {"Vary": response.headers["Vary"]}
            response = problem(scope, HTTPStatus.BAD_REQUEST, detail=detail, headers=vary)
        await response(scope, receive, send)

    @override
    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        if message["type"] == "http.response.start":
            origin = request_headers.get("origin")
            if origin is not None and not self.is_allowed_origin(origin=origin):
                request_headers = _NO_ORIGIN  # answered as to a same-origin call: Vary: Origin
        await super().send(message, send, request_headers)


class SecurityHeadersMiddleware:
    """The headers that keep a browser from misusing an API's answers, unless already set."""

    def __init__(self, app: ASGIApp, *, hsts: str = "") -> None:
        self.app = app
        names = {**API_HEADERS, **({"Strict-Transport-Security": hsts} if hsts else {})}
        self.headers = [(name.lower().encode(), value.encode()) for name, value in names.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.add_headers(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def add_headers(self, headers: MutableHeaders) -> None:
        present = {name for name, _ in headers.raw}  # ASGI header names are lowercase
        headers.raw.extend(header for header in self.headers if header[0] not in present)
        content_type = headers.get("content-type", "")
        if b"content-security-policy" not in present and not content_type.startswith("text/html"):
            headers.raw.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
        # A problem describes one moment (busy, not found yet, invalid): no cache may replay it.
        if b"cache-control" not in present and content_type.startswith(PROBLEM_JSON):
            headers.raw.append((b"cache-control", b"no-store"))


def hsts_header(settings: Settings) -> str:
    """The Strict-Transport-Security value the settings ask for ("": none)."""
    if not settings.hsts_max_age_seconds:
        return ""
    subdomains = "; includeSubDomains" if settings.hsts_include_subdomains else ""
    return f"max-age={settings.hsts_max_age_seconds}{subdomains}"


class HttpProtections(Component):
    """The protections as a component, present in every service (listed by components.py)."""

    def __init__(self, settings: Settings, *, exempt_paths: frozenset[str]) -> None:
        self.settings = settings
        self.exempt_paths = PROBE_PATHS | exempt_paths

    @override
    def middleware(self) -> list[Middleware]:
        """From the inside out: CORS, the host check, the security headers."""
        settings = self.settings
        layers = []
        if settings.cors_allow_origins:  # none: no CORS header, whatever the request
            layers.append(
                Middleware(
                    ProblemCORSMiddleware,
                    allow_origins=settings.cors_allow_origins,
                    allow_methods=settings.cors_allow_methods,
                    allow_headers=settings.cors_allow_headers,
                    allow_credentials=settings.cors_allow_credentials,
                    expose_headers=settings.cors_expose_headers,
                    max_age=settings.cors_max_age_seconds,
                )
            )
        if settings.trusted_hosts:
            layers.append(
                Middleware(
                    TrustedHostMiddleware,
                    allowed_hosts=settings.trusted_hosts,
                    exempt_paths=self.exempt_paths,
                )
            )
        layers.append(Middleware(SecurityHeadersMiddleware, hsts=hsts_header(settings)))
        return layers


def component(settings: Settings, *, exempt_paths: frozenset[str] = frozenset()) -> Component:
    """CORS, trusted hosts and security headers; `exempt_paths` (beside the probes) answer any
    Host: the components' own endpoints the platform calls at the pod's address (/metrics)."""
    return HttpProtections(settings, exempt_paths=exempt_paths)
