"""The API key verifier: the `X-API-Key` header, checked against the stored keys.

A key of the wrong form is refused before any lookup. A well-formed one is looked up by its id
in the store (the database, or the API_KEYS setting), and what the store answered (the key, or
that no key has the id) is kept in a small in-process cache for API_KEY_CACHE_SECONDS: a busy
key costs one HMAC and a dict read, a wrong secret or an unknown id repeated costs no query. A
revocation therefore takes effect within API_KEY_CACHE_SECONDS (0: at once, a query per
request). The cache holds API_KEY_CACHE_SIZE ids at most, the least recently used dropped first.

The cache is ours rather than cachetools' TTLCache: twenty lines, and it keeps the answer "no
such key" the same way as a key, which a library's miss could not tell apart from absence.
"""

import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime

from starlette.datastructures import Headers

from ...kernel.settings import Settings
from ..auth import Principal, Verifier
from ..auth.api_key import HEADER
from .keys import ApiKey, digest, key_id_of, proves


class KeyStore(ABC):
    """Where the keys are: looked up by id; told when a key was used."""

    def attach(self, opened: Mapping[str, object]) -> None:  # noqa: B027 - an optional hook
        """Take what the store needs among the opened clients (the database)."""

    @abstractmethod
    async def find(self, key_id: str) -> ApiKey | None:
        """The key of id `key_id`, or None."""

    async def used(self, key: ApiKey, now: datetime) -> ApiKey:
        """Record that `key` proved a request at `now`; the key as the cache should keep it."""
        return key


class KeyCache:
    """What the store answered per id, for `seconds`, `size` ids at most (LRU)."""

    def __init__(self, *, seconds: float, size: int) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: OrderedDict[str, tuple[float, ApiKey | None]] = OrderedDict()

    def get(self, key_id: str) -> tuple[bool, ApiKey | None]:
        """(True, the answer) while it is fresh; (False, None) when it must be looked up."""
        entry = self._entries.get(key_id)
        if entry is None:
            return False, None
        if entry[0] <= time.monotonic():
            del self._entries[key_id]
            return False, None
        self._entries.move_to_end(key_id)
        return True, entry[1]

    def replace(self, key_id: str, answer: ApiKey) -> None:
        """Keep `answer` for the id until its entry's own end (what the store said is no
        fresher: a revocation must still show within `seconds` of the lookup)."""
        if (entry := self._entries.get(key_id)) is not None:
            self._entries[key_id] = (entry[0], answer)

    def put(self, key_id: str, answer: ApiKey | None) -> None:
        if self.seconds <= 0:
            return
        self._entries[key_id] = (time.monotonic() + self.seconds, answer)
        self._entries.move_to_end(key_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class ApiKeyVerifier(Verifier):
    """Proves a request's `X-API-Key`: a principal with the key's owner and scopes."""

    method = "api_key"
    challenge = "ApiKey"

    def __init__(self, settings: Settings, store: KeyStore) -> None:
        self.pepper = settings.api_key_pepper.get_secret_value()
        self.store = store
        self.cache = KeyCache(
            seconds=settings.api_key_cache_seconds, size=settings.api_key_cache_size
        )

    def credential(self, headers: Headers) -> str | None:
        return headers.get(HEADER)

    async def verify(self, credential: str) -> Principal:
        key_id = key_id_of(credential)  # CredentialError before any lookup
        key_digest = digest(self.pepper, credential)
        cached, stored = self.cache.get(key_id)
        if not cached:
            stored = await self.store.find(key_id)
            self.cache.put(key_id, stored)
        now = datetime.now(UTC)
        principal = proves(stored, key_digest, now)
        if stored is not None:
            used = await self.store.used(stored, now)
            if used is not stored:
                self.cache.replace(key_id, used)
        return principal
