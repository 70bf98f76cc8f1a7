"""API versions: which routers make each version, and the retirement headers of old versions.

Whatever the strategy, a request for version N ends up under the path prefix `/vN` (the header
strategy rewrites the path), so the deprecation middleware reads the version from the path below
`root_path`.
"""

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import problem
from .requests import route_path
from .settings import VersionPolicy

VersionedRouters = Mapping[str, Sequence[APIRouter]]
_VERSION_PREFIX = re.compile(r"^/v(?P<version>[0-9]+)(?:/|$)")


def version_from_path(path: str) -> str | None:
    """`"1"` for `/v1/items`, None for an unversioned path such as `/livez`."""
    match = _VERSION_PREFIX.match(path)
    return match["version"] if match else None


def include_routers(
    app: FastAPI, routers: Sequence[APIRouter], *, prefix: str = "", **options: Any
) -> None:
    """Include each router under `prefix`; `options` go to every `include_router` call."""
    for router in routers:
        app.include_router(router, prefix=prefix, **options)


def retirement_headers(policy: VersionPolicy) -> dict[str, str]:
    """Deprecation (RFC 9745), Sunset (RFC 8594) and Link headers for a deprecated version."""
    headers = {"Deprecation": f"@{int(policy.deprecated_at.timestamp())}"}
    if policy.sunset_at is not None:
        headers["Sunset"] = format_datetime(policy.sunset_at.astimezone(UTC), usegmt=True)
    if policy.link is not None:
        headers["Link"] = f'<{policy.link}>; rel="deprecation"; type="text/html"'
    return headers


def add_retirement_headers(response: MutableHeaders, headers: Mapping[str, str]) -> None:
    """Set the retirement headers; the deprecation link joins the endpoint's own `Link`."""
    for name, value in headers.items():
        own = response.get(name) if name == "Link" else None
        response[name] = f"{own}, {value}" if own else value


class DeprecationMiddleware:
    """Add the retirement headers to every response of a deprecated version; 410 after sunset."""

    def __init__(self, app: ASGIApp, *, policies: Mapping[str, VersionPolicy]) -> None:
        self.app = app
        self.policies = dict(policies)
        self.headers = {version: retirement_headers(p) for version, p in policies.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        version = version_from_path(route_path(scope)) if scope["type"] == "http" else None
        if version is None or version not in self.policies:
            await self.app(scope, receive, send)
            return
        headers = self.headers[version]
        sunset_at = self.policies[version].sunset_at
        if sunset_at is not None and datetime.now(UTC) >= sunset_at:
            detail = f"API version {version} was retired on {headers['Sunset']}."
            await problem(scope, 410, detail=detail, headers=headers)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_retirement_headers(MutableHeaders(scope=message), headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)
