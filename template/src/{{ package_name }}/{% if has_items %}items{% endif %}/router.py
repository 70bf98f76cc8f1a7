"""HTTP endpoints of the `items` feature (the same contract in every API version so far)."""

from typing import Any

from fastapi import APIRouter, status

from ..core.pagination import Page
from . import service
from .dependencies import CursorCodecDep, ItemQueryDep, ItemRepositoryDep
from .schemas import ItemCreate, ItemRead, ItemUpdate

router = APIRouter(prefix="/items", tags=["items"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No item has this id."},
    409: {"description": "A duplicate name, or the item changed since it was read."},
}


@router.post("", status_code=status.HTTP_201_CREATED, responses={409: PROBLEMS[409]})
async def create_item(data: ItemCreate, items: ItemRepositoryDep) -> ItemRead:
    """Create an item. Its name must be unique (409 otherwise)."""
    return await service.create_item(items=items, data=data)


@router.get("")
async def list_items(
    query: ItemQueryDep, items: ItemRepositoryDep, cursors: CursorCodecDep
) -> Page[ItemRead]:
    """List items, filtered and sorted, one page at a time.

    Pass the `next_cursor` of a page as `cursor`, with the same filters and sort, to get the
    next one. Pages never skip or repeat an item when others are created meanwhile.
    """
    return await service.list_items(items=items, query=query, cursors=cursors)


@router.get("/{item_id}", responses={404: PROBLEMS[404]})
async def get_item(item_id: int, items: ItemRepositoryDep) -> ItemRead:
    """Read one item."""
    return await service.get_item(items=items, item_id=item_id)


@router.patch("/{item_id}", responses=PROBLEMS)
async def update_item(item_id: int, data: ItemUpdate, items: ItemRepositoryDep) -> ItemRead:
    """Change an item. Send the `version` you read: if it moved since, the answer is 409."""
    return await service.update_item(items=items, item_id=item_id, data=data)


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses={404: PROBLEMS[404]})
async def delete_item(item_id: int, items: ItemRepositoryDep) -> None:
    """Delete an item and its tags."""
    await service.delete_item(items=items, item_id=item_id)
