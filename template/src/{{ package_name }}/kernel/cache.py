"""Read-through caching as a feature sees it: one protocol, and the pass-through without a cache.

A feature reads through `ReadThrough` whether or not the service was built with a cache: the
cache component (integrations/cache.py, when chosen) is kept as `cache` in the lifespan's
state, and a feature's dependency falls back to `UNCACHED` without it, so the feature's code
has no branch for either. Values are bytes (a feature serializes its own); None is "there is
no such thing", which a cache may remember too (a 404), briefly.
"""

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from pydantic import BaseModel

Load = Callable[[], Awaitable[bytes | None]]

# `Cache-Control` of a cached read: a client (never a shared cache: the answer may depend on
# who asks) keeps its copy but revalidates it each time with its ETag: a 304 from the cache.
REVALIDATE = "private, no-cache"


@runtime_checkable
class ReadThrough(Protocol):
    """Reads `key` from the cache, or `load()`s it once for every concurrent reader."""

    # What a cached read's answer says in `Cache-Control` (None: nothing).
    cache_control: str | None

    async def read(self, key: str, load: Load) -> bytes | None: ...

    async def invalidate(self, key: str) -> None:
        """Forget `key`: the next read loads it, and a load begun before stores nothing."""
        ...


class Uncached:
    """No cache: every read loads, and there is nothing to invalidate."""

    cache_control: str | None = None

    async def read(self, key: str, load: Load) -> bytes | None:
        return await load()

    async def invalidate(self, key: str) -> None:
        return None


UNCACHED = Uncached()


async def read_model[M: BaseModel](
    cache: ReadThrough, key: str, model: type[M], load: Callable[[], Awaitable[M | None]]
) -> M | None:
    """`read`, for a pydantic model stored as its JSON."""
    if isinstance(cache, Uncached):
        return await load()  # no JSON round trip without a cache

    async def load_json() -> bytes | None:
        found = await load()
        return None if found is None else found.model_dump_json().encode()

    raw = await cache.read(key, load_json)
    return None if raw is None else model.model_validate_json(raw)
