"""Who is calling: the principal a credential proves, and the verifiers that prove it.

A verifier turns one kind of credential (an OIDC bearer token, an API key) into a `Principal`,
or refuses it with a `CredentialError`. Each is the client of its own component (integrations/
oidc, integrations/api_keys); the auth component's middleware asks each, in list order, for its
credential in the request.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

from starlette.datastructures import Headers

Method = Literal["bearer", "api_key"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. `str(principal)` is its identity: what the rate limiter and the
    idempotency keys count and scope it by (`bearer:<sub>`, `api_key:<key id>`)."""

    method: Method
    subject: str  # the token's `sub`, or the key's owner
    scopes: frozenset[str] = field(default_factory=frozenset)
    client_id: str | None = None  # the token's `azp`/`client_id`, or the key's id

    @property
    def identity(self) -> str:
        return self.client_id if self.method == "api_key" and self.client_id else self.subject

    def __str__(self) -> str:
        return f"{self.method}:{self.identity}"


class CredentialError(Exception):
    """A credential that proves nothing: malformed, expired, revoked, signed by a stranger.

    `error` is the RFC 6750 error code (`invalid_token`, `invalid_request`) and `description`
    a short reason safe to send to the client (never the token, never a key).
    """

    def __init__(self, description: str, *, error: str = "invalid_token") -> None:
        super().__init__(description)
        self.description = description
        self.error = error
        self.challenge: str | None = None  # the refusing verifier's (the middleware sets it)


class Verifier(ABC):
    """One kind of credential: found in the request's headers, then verified."""

    method: Method
    challenge: str  # the WWW-Authenticate challenge's scheme: "Bearer", "ApiKey"

    @abstractmethod
    def credential(self, headers: Headers) -> str | None:
        """This verifier's credential in the request, or None when it carries none."""

    @abstractmethod
    async def verify(self, credential: str) -> Principal:
        """The principal `credential` proves; raises CredentialError when it proves nothing."""
