"""Named dependencies of the `items` feature."""

from typing import Annotated

from fastapi import Depends, Query

from ..core.db import SessionDep
from ..core.dependencies import SettingsDep
from ..core.pagination import CursorCodec
from .repository import ItemRepository
from .schemas import ItemQuery


def _items(session: SessionDep) -> ItemRepository:
    return ItemRepository(session)


def _cursors(settings: SettingsDep) -> CursorCodec:
    return CursorCodec(settings.secret_key.get_secret_value().encode())


ItemRepositoryDep = Annotated[ItemRepository, Depends(_items)]
CursorCodecDep = Annotated[CursorCodec, Depends(_cursors)]
ItemQueryDep = Annotated[ItemQuery, Query()]
