"""Authentication before anything counts the request: the principal in the ASGI scope.

Pure ASGI, outside the rate limiter and the idempotency keys, which count and scope requests by
`scope["state"]["principal"]`. The middleware only authenticates: it never refuses. A request
without a credential goes on anonymous; one whose credential proves nothing goes on with the
reason in `scope["state"]["credential_error"]`, and the routes that require a principal answer
401 with it (access.py). Public routes (about, the probes) answer whatever the headers say.
When a verifier cannot tell (its database is down), the answer is its problem (a 503 with
Retry-After), never a 401 that would make a client drop a valid credential.
"""

from collections.abc import Callable

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ...kernel.errors import ProblemError, problem_of
from .principal import CredentialError, Principal, Verifier

# A credential longer than this is refused before any parsing or signature check (a JWT with a
# few dozen claims is about 1 KiB; an API key 60 bytes).
MAX_CREDENTIAL_BYTES = 8192


class Authenticator:
    """The verifiers, asked in turn; the first that finds its credential decides."""

    def __init__(self) -> None:
        self.verifiers: list[Verifier] = []
        self.observers: list[Callable[[Principal], None]] = []

    def observe_principals(self, observer: Callable[[Principal], None]) -> None:
        """Call `observer(principal)` for every authenticated request, in its context (tracing
        puts the identity on the request's span: integrations/telemetry.py)."""
        self.observers.append(observer)

    @property
    def challenges(self) -> list[str]:
        return [verifier.challenge for verifier in self.verifiers]

    def challenge_of(self, principal: Principal) -> str:
        """The challenge of the kind of credential that proved `principal`."""
        return next(v.challenge for v in self.verifiers if v.method == principal.method)

    async def authenticate(self, headers: Headers) -> Principal | CredentialError | None:
        """The principal the request's credential proves, why it proves nothing, or None."""
        for verifier in self.verifiers:
            credential = verifier.credential(headers)
            if credential is None:
                continue
            try:
                if len(credential) > MAX_CREDENTIAL_BYTES:
                    raise CredentialError("The credential is too large.")
                principal = await verifier.verify(credential)
            except CredentialError as error:
                error.challenge = verifier.challenge  # the 401 challenges this kind only
                return error
            for observer in self.observers:
                observer(principal)
            return principal
        return None


class AuthenticationMiddleware:
    """Sets `scope["state"]["principal"]` (and binds it to the log lines) or the failure."""

    def __init__(self, app: ASGIApp, *, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        try:
            outcome = await self.authenticator.authenticate(Headers(scope=scope))
        except ProblemError as error:  # a verifier's store failed (the database): a 503, not 401
            await problem_of(scope, error)(scope, receive, send)
            return
        if outcome is None:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if isinstance(outcome, Principal):
            state["principal"] = outcome
            # The identity only: never the token or the key, and no claim beyond the subject.
            bound = structlog.contextvars.bind_contextvars(principal=str(outcome))
        else:
            state["credential_error"] = outcome
            bound = structlog.contextvars.bind_contextvars(credential_error=outcome.error)
        try:
            await self.app(scope, receive, send)
        finally:
            structlog.contextvars.reset_contextvars(**bound)
