"""HTTP endpoints of the `items` feature (the same contract in every API version so far)."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from ..kernel.bounds import Key
from ..kernel.dependencies import LOCATION, location
from ..kernel.openapi import problems
from ..kernel.pagination import Page
from . import service
from .dependencies import CursorCodecDep, ItemQueryDep, ItemRepositoryDep
from .schemas import ItemCreate, ItemRead, ItemUpdate

router = APIRouter(
    prefix="/items",
    tags=["items"],
    responses=problems({503: "The database is busy or out of reach: retry shortly."}),
)
ItemId = Annotated[Key, Path(description="The item's id.")]
NOT_FOUND = problems({404: "No item has this id."})
CONFLICT = problems({409: "A duplicate name, or the item changed since it was read."})


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={201: {"headers": LOCATION}, **CONFLICT},
)
async def create_item(
    data: ItemCreate, items: ItemRepositoryDep, request: Request, response: Response
) -> ItemRead:
    """Create an item. Its name must be unique (409 otherwise); `Location` is its URL."""
    created = await service.create_item(items=items, data=data)
    response.headers["Location"] = location(request, str(created.id))
    return created


@router.get("", responses=problems({400: "The cursor is invalid or belongs to another query."}))
async def list_items(
    query: ItemQueryDep, items: ItemRepositoryDep, cursors: CursorCodecDep
) -> Page[ItemRead]:
    """List items, filtered and sorted, one page at a time.

    Pass the `next_cursor` of a page as `cursor`, with the same filters and sort, to get the
    next one. Pages never skip or repeat an item when others are created meanwhile.
    """
    return await service.list_items(items=items, query=query, cursors=cursors)


@router.get("/{item_id}", responses=NOT_FOUND)
async def get_item(item_id: ItemId, items: ItemRepositoryDep) -> ItemRead:
    """Read one item."""
    return await service.get_item(items=items, item_id=item_id)


@router.patch("/{item_id}", responses={**NOT_FOUND, **CONFLICT})
async def update_item(item_id: ItemId, data: ItemUpdate, items: ItemRepositoryDep) -> ItemRead:
    """Change an item. Send the `version` you read: if it moved since, the answer is 409."""
    return await service.update_item(items=items, item_id=item_id, data=data)


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_item(item_id: ItemId, items: ItemRepositoryDep) -> None:
    """Delete an item and its tags."""
    await service.delete_item(items=items, item_id=item_id)
