"""Named dependencies of the `items` feature."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from ..integrations.db import SessionDep, SessionOpenerDep
from ..kernel.cache import UNCACHED, ReadThrough
from ..kernel.conditional import EntityTags
from ..kernel.dependencies import SettingsDep
from ..kernel.pagination import CursorCodec
from .repository import ItemRepository, OpenItems
from .schemas import ItemQuery

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description=(
            "The item's `ETag` from your last read, or `*` for any: the change applies only "
            "while the item is still at it (412 otherwise)."
        ),
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description="The `ETag` of your copy: 304, without a body, while it is still current.",
    ),
]


async def _items(session: SessionDep) -> ItemRepository:
    return ItemRepository(session)


async def _open_items(open_session: SessionOpenerDep) -> OpenItems:
    @asynccontextmanager
    async def items() -> AsyncIterator[ItemRepository]:
        async with open_session() as session:
            yield ItemRepository(session)

    return items


async def _cursors(settings: SettingsDep) -> CursorCodec:
    return CursorCodec(settings.secret_key.get_secret_value().encode())


async def _cache(request: Request) -> ReadThrough:
    # The cache component (kept as `cache`) when the service has one; else reads go through.
    cache = getattr(request.state, "cache", None)
    return cache if isinstance(cache, ReadThrough) else UNCACHED


# The parameters document the headers; several lines of one are one list (RFC 9110, 5.3).
async def _if_match(request: Request, if_match: IfMatch = None) -> EntityTags | None:
    return EntityTags.parse(request.headers.getlist("If-Match")) if if_match is not None else None


async def _if_none_match(request: Request, if_none_match: IfNoneMatch = None) -> EntityTags | None:
    lines = request.headers.getlist("If-None-Match")
    return EntityTags.parse(lines) if if_none_match is not None else None


ItemRepositoryDep = Annotated[ItemRepository, Depends(_items)]
ItemsOpenerDep = Annotated[OpenItems, Depends(_open_items)]
ItemCacheDep = Annotated[ReadThrough, Depends(_cache)]
CursorCodecDep = Annotated[CursorCodec, Depends(_cursors)]
ItemQueryDep = Annotated[ItemQuery, Query()]
IfMatchDep = Annotated[EntityTags | None, Depends(_if_match)]
IfNoneMatchDep = Annotated[EntityTags | None, Depends(_if_none_match)]
