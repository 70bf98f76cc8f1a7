"""API keys for machines: `X-API-Key: sk_<id>_<secret>`, stored hashed, made by a CLI.

`python -m <package>.keys create --owner O --scope items:read` prints a new key once; only
its HMAC-SHA256 under API_KEY_PEPPER is kept (keys.py: the form and the hash). The verifier
(verifier.py) refuses a malformed key before any lookup, looks a key up by its id, and compares
hashes in constant time; a key proves a principal `api_key:<id>` with its owner as subject and
its own scopes. A revoked or expired key, an unknown id, a wrong secret: 401. With a database,
the keys are a table (models.py) and `last_used_at` is written at most once a minute per key;
without one, their hashes are the API_KEYS setting.

What the verifier looked up is cached in-process for API_KEY_CACHE_SECONDS (30 s): a
revocation takes effect within it.
"""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import override

from ...kernel.settings import Settings
from ...web.component import Component
from ...web.health import HealthRegistry
from .store import key_store
from .verifier import ApiKeyVerifier

__all__ = ["ApiKeyVerifier", "component"]


class ApiKeys(Component):
    """The verifier (kept under `api_keys`, where the auth component finds it)."""

    name = "api_keys"

    def __init__(self, settings: Settings) -> None:
        self.store = key_store(settings)
        self.verifier = ApiKeyVerifier(settings, self.store)

    @override
    @asynccontextmanager
    async def open(self, health: HealthRegistry) -> AsyncIterator[object]:
        yield self.verifier

    @override
    @asynccontextmanager
    async def attach(self, opened: Mapping[str, object]) -> AsyncIterator[None]:
        self.store.attach(opened)
        yield


def component(settings: Settings) -> Component:
    return ApiKeys(settings)
