"""The issuer's signing keys: discovered, fetched with httpx, cached, refetched on rotation.

The JWKS URL comes from the issuer's discovery document (`<issuer>/.well-known/openid-
configuration`, whose `issuer` must be the configured one: a document that names another is
refused). The key set is kept for the response's Cache-Control max-age, bounded by the
settings (without one, OIDC_JWKS_MAX_AGE_SECONDS); a token signed by a key the set does not
have (a rotation) fetches it again. Every fetch, whatever its cause, waits at least
OIDC_JWKS_REFRESH_SECONDS after the previous attempt, and concurrent requests share the one in
flight (they wait on its lock, then read its result): a flood of tokens with made-up key ids
costs the issuer one fetch per interval, not one per request. A failed fetch keeps the keys
it had (the issuer being down does not log everyone out); without any, tokens get a 401 and
readiness reports it until a later attempt succeeds.

PyJWT's own PyJWKClient fetches with urllib, synchronously: it would block the event loop for
up to its timeout. So this module fetches with httpx and hands the documents to PyJWT's PyJWK,
one per key and algorithm, which binds each key to that one algorithm (verify.py).
"""

import asyncio
import math
import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from jwt import PyJWK, PyJWTError

from ...kernel.logging import get_logger
from ..auth import CredentialError

logger = get_logger("oidc")
DISCOVERY_PATH = "/.well-known/openid-configuration"
MAX_DOCUMENT_BYTES = 512 * 1024  # a JWKS of a few keys is 2-5 KiB
MAX_KEYS = 100  # keys read from one set; the rest ignored
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(no-store|no-cache)\b", re.IGNORECASE)


class IssuerError(Exception):
    """The issuer's discovery document or key set is unusable (the reason, never a secret)."""


class KeysUnavailableError(Exception):
    """No key of the issuer has been loaded yet: the last fetch failed (readiness says so)."""


def lifetime(cache_control: str | None, *, floor: float, ceiling: float) -> float:
    """How long a key set is kept: its max-age within [floor, ceiling]; without one, ceiling."""
    if cache_control and _NO_CACHE.search(cache_control):
        return floor
    match = _MAX_AGE.search(cache_control or "")
    if match is None:
        return ceiling
    return min(max(float(match[1]), floor), ceiling)


def usable_keys(document: object, algorithms: Sequence[str]) -> list[PyJWK]:
    """A PyJWK per signing key of `document` and allowed algorithm it fits (its `alg` if it
    names one; its type and curve otherwise). Keys for encryption, private keys, RSA keys
    shorter than 2048 bits and keys of other types are left out."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise IssuerError("the key set has no `keys` list")
    keys = []
    for entry in entries[:MAX_KEYS]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or "d" in entry:
            continue
        if not isinstance(entry.get("kid", ""), str):
            continue
        for algorithm in algorithms:
            if entry.get("alg", algorithm) != algorithm:
                continue
            try:
                key = PyJWK(entry, algorithm)
                key.Algorithm.prepare_key(key.key)  # an EC key's curve must be the algorithm's
            except (PyJWTError, ValueError, TypeError):
                continue  # another type, or malformed
            if key.Algorithm.check_key_length(key.key) is None:
                keys.append(key)
    if not keys:
        raise IssuerError(f"the key set has no usable key for {', '.join(algorithms)}")
    return keys


def describe(error: Exception) -> str:
    """A failure as the logs and readiness show it: the reason, or the exception's type."""
    return str(error) if isinstance(error, IssuerError) else type(error).__name__


class KeySet:
    """The keys of one fetch, by key id and algorithm, and when they go stale."""

    def __init__(self, keys: Sequence[PyJWK], *, fetched_at: float, expires_at: float) -> None:
        self.fetched_at = fetched_at
        self.expires_at = expires_at
        self.size = len(keys)  # (key, algorithm) pairs: an RSA key without `alg` counts twice
        self.by_kid: dict[tuple[str, str], PyJWK] = {}
        self.by_algorithm: dict[str, list[PyJWK]] = {}
        for key in keys:
            if key.key_id is not None:
                self.by_kid.setdefault((key.key_id, key.algorithm_name), key)
            self.by_algorithm.setdefault(key.algorithm_name, []).append(key)

    def find(self, kid: str | None, algorithm: str) -> PyJWK | None:
        """The key named `kid` for `algorithm`; without a kid, the algorithm's only key."""
        if kid is not None:
            return self.by_kid.get((kid, algorithm))
        candidates = self.by_algorithm.get(algorithm, [])
        if len(candidates) > 1:
            raise CredentialError("The token names no key (kid) and the issuer has several.")
        return candidates[0] if candidates else None


class IssuerKeys:
    """The issuer's current key set, fetched through the lifespan's httpx client."""

    def __init__(
        self,
        *,
        issuer: str,
        algorithms: Sequence[str],
        http: httpx.AsyncClient,
        refresh_seconds: float,
        max_age_seconds: float,
        timeout_seconds: float,
    ) -> None:
        self.issuer = issuer
        self.algorithms = list(algorithms)
        self.http = http
        self.refresh_seconds = refresh_seconds
        self.max_age_seconds = max_age_seconds
        self.timeout_seconds = timeout_seconds
        self.keys: KeySet | None = None
        self.fetches = 0  # GETs of the key set, successful or not (readiness details, tests)
        self.last_error: str | None = None
        self._jwks_uri: str | None = None
        self._attempted_at = -math.inf
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    async def key(self, kid: str | None, algorithm: str) -> PyJWK:
        """The key a token names; refetches the set (within the interval) when it is stale or
        lacks the key. Raises CredentialError when there is none."""
        keys = self.keys
        if keys is None or time.monotonic() >= keys.expires_at:
            await self.refresh()
            keys = self.keys
        found = keys.find(kid, algorithm) if keys is not None else None
        if found is None and keys is not None:
            await self.refresh()  # a rotation: the issuer signs with a key we have not seen
            keys = self.keys
            found = keys.find(kid, algorithm) if keys is not None else None
        if keys is None:
            raise CredentialError("The issuer's keys are unavailable; try again shortly.")
        if found is None:
            raise CredentialError("The token's signing key is unknown to the issuer's key set.")
        return found

    async def refresh(self) -> None:
        """Fetch the key set, unless an attempt was made within the interval: a request that
        waited on the lock for another's fetch then reads what that fetch got. Never raises
        (a failure is logged and kept in `last_error`)."""
        async with self._lock:
            if time.monotonic() - self._attempted_at < self.refresh_seconds:
                return
            self._attempted_at = time.monotonic()
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    self.keys = await self._fetch()
                self.last_error = None
            except (httpx.HTTPError, TimeoutError, IssuerError, orjson.JSONDecodeError) as error:
                self._jwks_uri = None  # discover again next time: the issuer may have moved it
                self.last_error = describe(error)
                logger.warning(
                    "oidc_keys_fetch_failed",
                    error=self.last_error,
                    kept_keys=self.keys is not None,
                    retry_after_seconds=self.refresh_seconds,
                )

    async def check(self) -> dict[str, int | float | str]:
        """Readiness: a key set is loaded. Never waits on the issuer: without keys it starts a
        fetch in the background (within the interval) and reports the last failure."""
        keys = self.keys
        if keys is None:
            if self._background is None or self._background.done():
                self._background = asyncio.create_task(self.refresh())
            raise KeysUnavailableError(self.last_error or "not fetched yet")
        age = time.monotonic() - keys.fetched_at
        return {"keys": keys.size, "age_seconds": round(age, 1), "fetches": self.fetches}

    async def close(self) -> None:
        if self._background is not None:
            self._background.cancel()
            await asyncio.gather(self._background, return_exceptions=True)

    async def _fetch(self) -> KeySet:
        if self._jwks_uri is None:
            self._jwks_uri = await self._discover()
        self.fetches += 1
        document, headers = await self._get(self._jwks_uri)
        keys = usable_keys(document, self.algorithms)
        now = time.monotonic()
        ttl = lifetime(
            headers.get("cache-control"), floor=self.refresh_seconds, ceiling=self.max_age_seconds
        )
        logger.info("oidc_keys_fetched", keys=len(keys), ttl_seconds=ttl)
        return KeySet(keys, fetched_at=now, expires_at=now + ttl)

    async def _discover(self) -> str:
        document, _ = await self._get(self.issuer.rstrip("/") + DISCOVERY_PATH)
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise IssuerError("the discovery document names another issuer")
        jwks_uri = document.get("jwks_uri")
        scheme = urlsplit(jwks_uri).scheme if isinstance(jwks_uri, str) else ""
        # https, or the issuer's own scheme (http only for an issuer on loopback, settings).
        if scheme not in {"https", urlsplit(self.issuer).scheme}:
            raise IssuerError("the discovery document has no https jwks_uri")
        return str(jwks_uri)

    async def _get(self, url: str) -> tuple[Any, httpx.Headers]:
        """A JSON document, read up to MAX_DOCUMENT_BYTES (redirects are not followed)."""
        async with self.http.stream("GET", url) as response:
            if response.status_code != httpx.codes.OK:
                raise IssuerError(f"{urlsplit(url).path} answered {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise IssuerError(f"{urlsplit(url).path} is larger than {MAX_DOCUMENT_BYTES}")
            return orjson.loads(body), response.headers
