"""Named dependencies of the `items` feature."""

from typing import Annotated

from fastapi import Depends, Query

from ..integrations.db import SessionDep
from ..kernel.dependencies import SettingsDep
from ..kernel.pagination import CursorCodec
from .repository import ItemRepository
from .schemas import ItemQuery


async def _items(session: SessionDep) -> ItemRepository:
    return ItemRepository(session)


async def _cursors(settings: SettingsDep) -> CursorCodec:
    return CursorCodec(settings.secret_key.get_secret_value().encode())


ItemRepositoryDep = Annotated[ItemRepository, Depends(_items)]
CursorCodecDep = Annotated[CursorCodec, Depends(_cursors)]
ItemQueryDep = Annotated[ItemQuery, Query()]
