"""What every idempotency store shares: the key, its scope and fingerprint, and the verdicts.

A store (claim.py) claims a key for a `Lease`, answers a key in use with `reused`, a `Replay`
or `in_progress`, and stores the response `stored_parts` keeps, through `Claim.store`, which
the route class (route.py) calls once the endpoint built its response.
"""

import hashlib
import math
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Header, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError

from ...kernel.settings import Settings

MAX_KEY = 255  # characters, of a key and of a scope (the record's primary key)
STATE = "idempotency_claim"  # request.state: the claim, for IdempotentRoute
REPLAYED = "Idempotent-Replayed"
# The headers that describe the result, stored and replayed (the others are the request's own).
KEPT_HEADERS = frozenset(
    {"content-type", "content-language", "location", "content-location", "etag", "last-modified"}
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        # In the document, so clients (and fuzzers) know a malformed key is a 422 before sending.
        min_length=1,
        max_length=MAX_KEY,
        pattern=r"^[\x21-\x7e]+$",  # visible ASCII
        description=(
            "A unique value (1 to 255 visible ASCII characters, a UUID for instance) naming this "
            "request: a retry with the same key gets the first response instead of running twice."
        ),
    ),
]


@dataclass(frozen=True, slots=True)
class Lease:
    """A claim's identity and times: what a store writes when it claims or takes over a key."""

    scope: str
    key: str
    fingerprint: str
    token: str
    locked_until: datetime
    expires_at: datetime

    @property
    def request_id(self) -> str:
        """32 hex digits naming this request (its scope, key and fingerprint), the same on a
        retry: an effect keyed by it (a job's id) is not repeated by a retry that takes over."""
        named = f"{self.scope}\n{self.key}\n{self.fingerprint}".encode()
        return hashlib.sha256(named).hexdigest()[:32]


class Replay(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The key's request completed before: IdempotentRoute answers its stored response."""

    def __init__(self, *, status_code: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(status_code)
        self.status = status_code
        self.headers = headers
        self.body = body

    def response(self) -> Response:
        headers = {**self.headers, REPLAYED: "true"}
        return Response(self.body, status_code=self.status, headers=headers)


class Claim(ABC):
    """A key this request holds, until the store keeps its response (or frees the key)."""

    @abstractmethod
    async def store(self, response: Response) -> None:
        """Keep `response` for the key (IdempotentRoute calls it once the endpoint returned)."""


def stored_parts(response: Response) -> tuple[dict[str, str], bytes] | None:
    """The headers and body a store keeps; None for an error response (never replayed: a 503
    must be retried, so its key is freed)."""
    if response.status_code >= status.HTTP_400_BAD_REQUEST:
        return None
    body = getattr(response, "body", None)
    if not isinstance(body, bytes):
        raise TypeError("an idempotent route answers a body, not a stream")
    return {k: v for k, v in response.headers.items() if k in KEPT_HEADERS}, body


def client_scope(request: Request) -> str:
    """Whose keys: the authenticated principal a middleware set, else one anonymous scope."""
    principal = request.scope.get("state", {}).get("principal")
    if not principal:
        return "anonymous"
    scope = f"principal:{principal}"
    if len(scope) > MAX_KEY:
        scope = "sha256:" + hashlib.sha256(scope.encode()).hexdigest()
    return scope


def fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256(f"{request.method} {request.scope['path']}\n".encode())
    digest.update(body)
    return digest.hexdigest()


# Whether a route needs a key: fixed, or read from the settings (`idempotent(required=...)`).
Required = bool | Callable[[Settings], bool]


def checked_key(key: str | None, *, required: Required, settings: Settings) -> str | None:
    """The request's key (its header's schema checked its form: 422 otherwise); a missing one
    is a 400 where required, else None: the request runs without one."""
    if key is None and (required(settings) if callable(required) else required):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Send an Idempotency-Key.")
    return key


def new_lease(request: Request, settings: Settings, key: str, body: bytes) -> Lease:
    now = datetime.now(UTC)  # the records' times are UTC (kernel/models.py's utcnow)
    return Lease(
        scope=client_scope(request),
        key=key,
        fingerprint=fingerprint(request, body),
        token=secrets.token_hex(16),
        locked_until=now + timedelta(seconds=settings.idempotency_lock_seconds),
        expires_at=now + timedelta(seconds=settings.idempotency_ttl_seconds),
    )


def reused() -> RequestValidationError:
    """The key names another request: a 422 as validation answers it, in `errors`."""
    return RequestValidationError(
        [
            {
                "loc": ("header", "Idempotency-Key"),
                "msg": "This key was used for another request (method, path or body).",
                "type": "idempotency_key_reused",
            }
        ]
    )


def in_progress(seconds_left: float) -> HTTPException:
    """The key's first request is still running: 409, retry once its lock may have ended."""
    return HTTPException(
        status.HTTP_409_CONFLICT,
        "A request with this Idempotency-Key is still in progress; retry later.",
        headers={"Retry-After": str(max(1, math.ceil(seconds_left)))},
    )


def racing() -> HTTPException:
    return HTTPException(
        status.HTTP_409_CONFLICT,
        "Requests with this Idempotency-Key keep racing; retry later.",
        headers={"Retry-After": "1"},
    )


def taken_over() -> HTTPException:
    return HTTPException(
        status.HTTP_409_CONFLICT,
        "The request outlived its Idempotency-Key's lock and another took the key over.",
    )


def current_lease(request: Request) -> Lease | None:
    """The lease of the key this request holds, if any (for an effect keyed by it)."""
    claim = getattr(request.state, STATE, None)
    lease = getattr(claim, "lease", None)
    return lease if isinstance(lease, Lease) else None
