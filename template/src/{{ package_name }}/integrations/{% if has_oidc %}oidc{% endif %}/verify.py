"""Verifying a bearer token: PyJWT checks the signature and the claims, this module the rest.

In order, before any key is looked up or any signature computed: the header parses, its `alg`
is one of OIDC_ALGORITHMS (never `none`, never HS*: settings refuse them) and its `typ`, when
set, is a JWT's or an access token's (`at+jwt`, RFC 9068). The key is the one its `kid` names
for that algorithm (without a kid: the set's only key for it); PyJWK binds each key to one
algorithm, so a token cannot have an RSA key read as an HMAC secret. Then `jwt.decode` checks
the signature, `iss`, `aud`, `exp` (required), `nbf` and `iat` (when present, within the
leeway) and the required claims. A refusal says why in a few words and never echoes the token.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, override

import jwt
from starlette.datastructures import Headers

from ...kernel.settings import Settings
from ..auth import CredentialError, Principal, Verifier
from .keys import IssuerKeys

if TYPE_CHECKING:
    from jwt.types import Options

# Claims every token must carry: who (`sub`), and what `decode` checks.
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")
TOKEN_TYPES = frozenset({"jwt", "at+jwt"})  # `typ`, case-insensitive, `application/` optional

# PyJWT's refusals, most specific first, as the short reason the client reads.
REASONS: Sequence[tuple[type[jwt.PyJWTError], str]] = (
    (jwt.ExpiredSignatureError, "The token has expired."),
    (jwt.ImmatureSignatureError, "The token is not valid yet."),
    (jwt.InvalidIssuerError, "The token comes from another issuer."),
    (jwt.InvalidAudienceError, "The token is meant for another audience."),
    (jwt.InvalidSignatureError, "The token's signature does not verify."),
    (jwt.InvalidAlgorithmError, "The token's algorithm is not accepted."),
    (jwt.InvalidKeyError, "The token's key is not usable."),
)


def reason(error: jwt.PyJWTError) -> str:
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"The token lacks the {error.claim!r} claim."
    for kind, text in REASONS:
        if isinstance(error, kind):
            return text
    return "The token is malformed."


def claim_at(claims: dict[str, Any], path: Sequence[str]) -> object:
    """The value at a dotted path of the claims (`realm_access.roles`), or None."""
    value: object = claims
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def scopes_of(value: object) -> frozenset[str]:
    """A space-separated string (`scope`, RFC 8693) or a list of strings (roles)."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()


class BearerVerifier(Verifier):
    """`Authorization: Bearer <JWT>`, verified against the issuer's keys (None: no issuer)."""

    method = "bearer"
    challenge = "Bearer"

    def __init__(self, settings: Settings, keys: IssuerKeys | None) -> None:
        self.keys = keys
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self.algorithms = list(settings.oidc_algorithms)
        self.leeway = settings.oidc_leeway_seconds
        self.scopes_path = settings.oidc_scopes_claim.split(".")
        self.options: Options = {
            "require": [*REQUIRED_CLAIMS, *settings.oidc_required_claims],
            "enforce_minimum_key_length": True,
        }

    @override
    def credential(self, headers: Headers) -> str | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    @override
    async def verify(self, credential: str) -> Principal:
        if self.keys is None:
            raise CredentialError("This service has no token issuer configured.")
        header = self._header(credential)
        key = await self.keys.key(header.get("kid"), header["alg"])
        try:
            claims = jwt.decode(
                credential,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options=self.options,
            )
        except jwt.PyJWTError as error:
            raise CredentialError(reason(error)) from None
        if not claims["sub"]:
            raise CredentialError("The token's subject is empty.")
        client_id = claims.get("azp") or claims.get("client_id")
        return Principal(
            method="bearer",
            subject=claims["sub"],
            scopes=scopes_of(claim_at(claims, self.scopes_path)),
            client_id=client_id if isinstance(client_id, str) else None,
        )

    def _header(self, token: str) -> dict[str, Any]:
        """The token's header, once its algorithm and type are ones this service accepts."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise CredentialError("The token is malformed.") from None
        if header.get("alg") not in self.algorithms:
            raise CredentialError("The token's algorithm is not accepted.")
        kind = header.get("typ")
        if kind is not None and (
            not isinstance(kind, str)
            or kind.lower().removeprefix("application/") not in TOKEN_TYPES
        ):
            raise CredentialError("The token's type is not an access token's.")
        return header
