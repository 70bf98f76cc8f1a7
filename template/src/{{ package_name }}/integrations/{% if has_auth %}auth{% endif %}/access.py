"""Authorization: the scopes each route requires, as FastAPI security dependencies.

`require("items:read")` in a route's or a router's `dependencies` (or as the type of a
parameter, `Annotated[Principal, require(...)]`) lets through only a principal that holds every
scope the route and its routers require; the scopes are those of the claim OIDC_SCOPES_CLAIM
names (`scope`, or a list of roles) or an API key's own. Answers, both problem+json:

- 401 with `WWW-Authenticate` (RFC 6750, section 3): no credential (a bare challenge of each
  kind the service accepts), or one that proves nothing (its kind's challenge, with
  `error="invalid_token"` and the reason);
- 403 with `error="insufficient_scope"` and the scopes required, in the challenge of the kind
  that proved the principal: a valid credential without them.

The security schemes are declared for the OpenAPI document (and /docs' Authorize button); the
middleware already verified the credential, so these dependencies only read the outcome.
"""

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import SecurityScopes
from starlette.exceptions import HTTPException

from .principal import CredentialError, Principal
from .schemes import credentials

if TYPE_CHECKING:
    from .middleware import Authenticator


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def challenges(request: Request, *, only: str | None = None, **params: str) -> str:
    """`WWW-Authenticate`: a challenge per credential the service accepts (`only` one kind's),
    with `params`."""
    authenticator: Authenticator = request.state.auth
    suffix = ", ".join(f"{name}={_quoted(value)}" for name, value in params.items())
    schemes = [only] if only else authenticator.challenges
    return ", ".join(f"{scheme} {suffix}" if suffix else scheme for scheme in schemes)


def _refuse(
    request: Request, status: int, detail: str, *, only: str | None = None, **params: str
) -> HTTPException:
    challenge = challenges(request, only=only, **params)
    return HTTPException(status, detail, headers={"WWW-Authenticate": challenge})


async def authorize(
    security_scopes: SecurityScopes,
    request: Request,
    _: Annotated[None, Depends(credentials)],
) -> Principal:
    """The principal, when it holds every scope required; else the 401 or 403."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        failure: CredentialError | None = getattr(request.state, "credential_error", None)
        if failure is None:
            raise _refuse(request, 401, "This operation requires a credential.")
        raise _refuse(
            request,
            401,
            failure.description,
            only=failure.challenge,
            error=failure.error,
            error_description=failure.description,
        )
    missing = sorted(set(security_scopes.scopes) - principal.scopes)
    if missing:
        scope = " ".join(security_scopes.scopes)
        detail = f"The credential lacks the scope {', '.join(missing)}."
        only = request.state.auth.challenge_of(principal)
        raise _refuse(request, 403, detail, only=only, error="insufficient_scope", scope=scope)
    return principal


def require(*scopes: str) -> Any:
    """A dependency that requires a principal holding every one of `scopes`."""
    return Security(authorize, scopes=list(scopes))


PrincipalDep = Annotated[Principal, require()]
