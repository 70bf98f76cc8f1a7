"""Claiming an Idempotency-Key: the route dependency, and what it answers for a key in use."""

import asyncio
import hashlib
import math
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from ...kernel.dependencies import SettingsDep
from ...kernel.logging import get_logger
from ...kernel.models import utcnow
from ...kernel.settings import Settings
from ..db import SessionDep
from .models import COMPLETED, IN_FLIGHT, IdempotencyRecord
from .repository import IdempotencyRepository, Lease

logger = get_logger("idempotency")
MAX_KEY = 255  # characters, of a key and of a scope (the record's primary key)
ATTEMPTS = 3  # claims that meet a record deleted or taken over meanwhile try again
RELEASE_SECONDS = 2.0  # then the lock's expiry frees the key instead
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


class Replay(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The key's request completed before: IdempotentRoute answers its stored response."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(record.key)
        self.status = record.status or status.HTTP_200_OK
        self.headers = dict(record.headers or {})
        self.body = record.body or b""

    def response(self) -> Response:
        headers = {**self.headers, REPLAYED: "true"}
        return Response(self.body, status_code=self.status, headers=headers)


@dataclass(slots=True)
class Claim:
    """A key this request holds, until its response is stored with the effect (or dropped)."""

    lease: Lease
    session: AsyncSession
    stored: bool = False
    dropped: bool = False  # an error response: not stored, the key is freed
    repository: IdempotencyRepository = field(init=False)

    def __post_init__(self) -> None:
        self.repository = IdempotencyRepository(self.session)

    async def store(self, response: Response) -> None:
        """Write `response` into the record, in the effect's transaction (IdempotentRoute)."""
        if response.status_code >= status.HTTP_400_BAD_REQUEST:
            self.dropped = True
            return
        body = getattr(response, "body", None)
        if not isinstance(body, bytes):
            raise TypeError("an idempotent route answers a body, not a stream")
        headers = {k: v for k, v in response.headers.items() if k in KEPT_HEADERS}
        lease, code = self.lease, response.status_code
        if not await self.repository.complete(lease, status=code, headers=headers, body=body):
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "The request outlived its Idempotency-Key's lock and another took the key over.",
            )
        self.stored = True

    async def settle(self) -> None:
        """The endpoint returned: commit the effect with its record, or free the key."""
        if self.stored:
            await self.session.commit()
        elif self.dropped:
            await self.repository.release(self.lease)  # committed with the request's session
        else:
            raise RuntimeError("an idempotent route needs route_class=IdempotentRoute")

    async def abandon(self) -> None:
        """The request failed: undo the effect and free the key, within RELEASE_SECONDS."""
        try:
            async with asyncio.timeout(RELEASE_SECONDS):
                await self.session.rollback()
                await self.repository.release(self.lease)
                await self.session.commit()
        except (SQLAlchemyError, OSError, TimeoutError) as exc:  # the lock expires instead
            logger.warning("idempotency_release_failed", error=type(exc).__name__)


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


def _verdict(record: IdempotencyRecord, lease: Lease, now: datetime) -> None:
    """Raise what a live record of the key answers (422, a replay, or 409)."""
    if record.fingerprint != lease.fingerprint:  # a 422 as validation answers it: `errors`
        raise RequestValidationError(
            [
                {
                    "loc": ("header", "Idempotency-Key"),
                    "msg": "This key was used for another request (method, path or body).",
                    "type": "idempotency_key_reused",
                }
            ]
        )
    if record.state == COMPLETED:
        raise Replay(record)
    wait = max(1, math.ceil((record.locked_until - now).total_seconds()))
    raise HTTPException(
        status.HTTP_409_CONFLICT,
        "A request with this Idempotency-Key is still in progress; retry later.",
        headers={"Retry-After": str(wait)},
    )


async def _acquire(repository: IdempotencyRepository, lease: Lease, now: datetime) -> None:
    for _ in range(ATTEMPTS):
        if await repository.claim(lease):
            return
        record = await repository.get(lease.scope, lease.key)
        if record is None:  # released meanwhile
            continue
        expired = record.expires_at <= now
        if expired or (record.state == IN_FLIGHT and record.locked_until <= now):
            if await repository.take_over(lease, now=now):
                return
            continue
        _verdict(record, lease, now)
    raise HTTPException(
        status.HTTP_409_CONFLICT,
        "Requests with this Idempotency-Key keep racing; retry later.",
        headers={"Retry-After": "1"},
    )


def _lease(request: Request, settings: Settings, key: str, body: bytes) -> Lease:
    now = utcnow()
    return Lease(
        scope=client_scope(request),
        key=key,
        fingerprint=fingerprint(request, body),
        token=secrets.token_hex(16),
        locked_until=now + timedelta(seconds=settings.idempotency_lock_seconds),
        expires_at=now + timedelta(seconds=settings.idempotency_ttl_seconds),
    )


Required = bool | Callable[[Settings], bool]


def idempotent(*, required: Required = False) -> Any:
    """A route dependency (`dependencies=[idempotent(...)]`): the request's Idempotency-Key
    claimed before the endpoint runs. `required`: whether a request without one gets 400
    (else it runs without idempotency), fixed or read from the settings."""

    async def claim_key(
        request: Request,
        session: SessionDep,
        settings: SettingsDep,
        idempotency_key: IdempotencyKey = None,
    ) -> AsyncIterator[None]:
        if idempotency_key is None:
            if required(settings) if callable(required) else required:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, "Send an Idempotency-Key.")
            yield
            return
        lease = _lease(request, settings, idempotency_key, await request.body())
        await _acquire(IdempotencyRepository(session), lease, utcnow())
        await session.commit()  # the claim is visible to duplicates before the effect begins
        claim = Claim(lease, session)
        setattr(request.state, STATE, claim)
        try:
            yield
            await claim.settle()
        except BaseException:
            await claim.abandon()
            raise

    claim_key.idempotent = True  # type: ignore[attr-defined]  # IdempotentRoute documents it
    return Depends(claim_key, scope="function")
