"""OIDC: a resource server verifying the JWT bearer tokens of an OpenID Connect issuer.

The component's client is a `BearerVerifier` (verify.py), which the auth component's middleware
asks for the `Authorization: Bearer` token of each request. It verifies against the issuer's
key set (keys.py), fetched when the lifespan starts by its own httpx client and kept fresh
from then on; a failed first fetch does not stop the service (readiness reports it, and the
next token or probe retries, at most once per OIDC_JWKS_REFRESH_SECONDS).

The library is PyJWT (2.13 or later: earlier releases have known vulnerabilities, an
authentication bypass among them), the most used, with `decode` checking every registered
claim and PyJWK binding each key to one algorithm. joserfc would
verify as well; PyJWT's one gap, a JWKS client that fetches synchronously (urllib, blocking
the event loop), is filled by keys.py's fetch with httpx, which the service has anyway.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from ...kernel.logging import get_logger
from ...kernel.settings import Settings
from ...web.component import Client, Component
from ...web.health import HealthRegistry
from .keys import IssuerKeys
from .verify import BearerVerifier

__all__ = ["BearerVerifier", "IssuerKeys", "component"]

logger = get_logger("oidc")


@asynccontextmanager
async def open_oidc(settings: Settings, health: HealthRegistry) -> AsyncIterator[BearerVerifier]:
    """The verifier, its key set fetched once before the first request. The readiness check
    `oidc` is not critical: every replica asks the same issuer, so taking them all out of the
    load balancer would turn an issuer outage into a full one (public routes keep working)."""
    if not settings.oidc_issuer:
        logger.warning("oidc_issuer_unset", detail="every bearer token is refused")
        yield BearerVerifier(settings, None)
        return
    async with httpx.AsyncClient(
        timeout=settings.oidc_http_timeout_seconds,
        follow_redirects=False,
        headers={"Accept": "application/json"},
    ) as http:
        keys = IssuerKeys(
            issuer=settings.oidc_issuer,
            algorithms=settings.oidc_algorithms,
            http=http,
            refresh_seconds=settings.oidc_jwks_refresh_seconds,
            max_age_seconds=settings.oidc_jwks_max_age_seconds,
            timeout_seconds=settings.oidc_http_timeout_seconds,
        )
        health.add("oidc", keys.check, critical=False)
        await keys.refresh()  # bounded by the timeout; a failure is logged, not raised
        try:
            yield BearerVerifier(settings, keys)
        finally:
            await keys.close()


def component(settings: Settings) -> Component:
    """The verifier, under `oidc`, for the auth component (the API's only: jobs verify none)."""
    return Client("oidc", settings, open_oidc, in_worker=False)
