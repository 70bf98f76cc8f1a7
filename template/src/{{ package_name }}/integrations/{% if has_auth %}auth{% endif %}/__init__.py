"""Authentication and authorization: a resource server that never stores a password.

The auth component's middleware (middleware.py) authenticates every request with the verifiers
the other components opened (integrations/oidc: JWT bearer tokens of an OpenID Connect issuer;
integrations/api_keys: API keys for machines) and leaves the principal in the ASGI scope, where
the rate limiter and the idempotency keys find it. The routes say which scopes they require
(`require(...)`, access.py); the OpenAPI document lists each operation's security and its 401
and 403 answers.

Revocation: a token stays valid until its `exp`, so issuers should keep access tokens short
(5-15 minutes) and revoke refresh tokens; API keys are revoked in the database and refused
once the verifier's short cache forgets them.
"""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, override

from starlette.middleware import Middleware

from ...kernel.openapi import operations, problem_response
from ...kernel.settings import Settings
from ...web.component import Component
from ...web.health import HealthRegistry
from .access import PrincipalDep, require
from .middleware import AuthenticationMiddleware, Authenticator
from .principal import CredentialError, Principal, Verifier

__all__ = ["CredentialError", "Principal", "PrincipalDep", "Verifier", "component", "require"]

CHALLENGE = {
    "WWW-Authenticate": {
        "description": "The credentials accepted (RFC 6750, section 3), with the error if any.",
        "schema": {"type": "string"},
    }
}


def document_security(operation: dict[str, Any]) -> None:
    """A secured operation's 401 and 403, each with its challenge."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    unauthorized = problem_response("No credential, or one that proves nothing (expired...).")
    forbidden = problem_response("The credential is valid but lacks a required scope.")
    for status, response in (("401", unauthorized), ("403", forbidden)):
        response["headers"] = {**CHALLENGE}
        responses[status] = response


class Auth(Component):
    """The middleware, on the verifiers opened before it (kept under `auth`)."""

    name = "auth"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.authenticator = Authenticator()

    @override
    def middleware(self) -> list[Middleware]:
        # Outside the rate limiter and the idempotency keys (they read the principal), inside
        # metrics (a 401 is counted).
        return [Middleware(AuthenticationMiddleware, authenticator=self.authenticator)]

    @override
    def document(self, document: dict[str, Any], prefix: str) -> None:
        for _, _, operation in operations(document):
            if operation.get("security"):
                document_security(operation)

    @override
    @asynccontextmanager
    async def open(self, health: HealthRegistry) -> AsyncIterator[object]:
        yield self.authenticator

    @override
    @asynccontextmanager
    async def attach(self, opened: Mapping[str, object]) -> AsyncIterator[None]:
        verifiers = [client for client in opened.values() if isinstance(client, Verifier)]
        if not verifiers:
            raise TypeError("auth needs a verifier (oidc, api_keys), listed before it")
        self.authenticator.verifiers = verifiers
        yield


def component(settings: Settings) -> Component:
    return Auth(settings)
