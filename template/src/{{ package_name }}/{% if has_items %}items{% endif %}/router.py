"""HTTP endpoints of the `items` feature (the same contract in every API version so far)."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from ..kernel.bounds import Key
from ..kernel.conditional import ETAG, answer, not_modified
from ..kernel.dependencies import LOCATION, SettingsDep, location
from ..kernel.openapi import problems
from ..kernel.pagination import Page
from . import service
from .dependencies import (
    CursorCodecDep,
    IfMatchDep,
    IfNoneMatchDep,
    ItemCacheDep,
    ItemQueryDep,
    ItemRepositoryDep,
    ItemsOpenerDep,
)
from .schemas import ItemCreate, ItemRead, ItemUpdate

router = APIRouter(
    prefix="/items",
    tags=["items"],
    responses=problems({503: "The database is busy or out of reach: retry shortly."}),
)
ItemId = Annotated[Key, Path(description="The item's id.")]
NOT_FOUND = problems({404: "No item has this id."})
CONFLICT = problems({409: "A duplicate name, or the item's version moved since it was read."})
# Conditional writes: If-Match (RFC 9110, section 13.1.1) and 428 (RFC 6585, section 3).
PRECONDITIONS = problems(
    {
        412: "If-Match names none of the item's ETags: it changed since it was read.",
        428: "No If-Match (and, for PATCH, no version): the service requires one.",
    }
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={201: {"headers": LOCATION}, **CONFLICT},
)
async def create_item(
    data: ItemCreate,
    items: ItemRepositoryDep,
    cache: ItemCacheDep,
    request: Request,
    response: Response,
) -> ItemRead:
    """Create an item. Its name must be unique (409 otherwise); `Location` is its URL."""
    created = await service.create_item(items=items, data=data, cache=cache)
    response.headers["Location"] = location(request, str(created.id))
    return created


@router.get(
    "",
    response_model=Page[ItemRead],
    responses={
        200: {"headers": ETAG},
        **not_modified("The page is unchanged since the ETag in If-None-Match."),
        **problems({400: "The cursor is invalid or belongs to another query."}),
    },
)
async def list_items(
    query: ItemQueryDep,
    items: ItemRepositoryDep,
    cursors: CursorCodecDep,
    if_none_match: IfNoneMatchDep,
    response: Response,
) -> Page[ItemRead] | Response:
    """List items, filtered and sorted, one page at a time.

    Pass the `next_cursor` of a page as `cursor`, with the same filters and sort, to get the
    next one. Pages never skip or repeat an item when others are created meanwhile. A page's
    `ETag` is weak; send it back in `If-None-Match` for a 304 while the page is the same.
    """
    page = await service.read_page(
        items=items, query=query, cursors=cursors, if_none_match=if_none_match
    )
    return answer(page, response)


@router.get(
    "/{item_id}",
    response_model=ItemRead,
    responses={
        200: {"headers": ETAG},
        **not_modified("The item is unchanged since the ETag in If-None-Match."),
        **NOT_FOUND,
    },
)
async def get_item(
    item_id: ItemId,
    open_items: ItemsOpenerDep,
    cache: ItemCacheDep,
    if_none_match: IfNoneMatchDep,
    response: Response,
) -> ItemRead | Response:
    """Read one item. Its `ETag` changes with every write: send it in `If-None-Match` for a 304
    while the item is unchanged, or in `If-Match` to change or delete exactly what you read."""
    item = await service.read_item(
        open_items=open_items, item_id=item_id, if_none_match=if_none_match, cache=cache
    )
    return answer(item, response, cache_control=cache.cache_control)


@router.patch(
    "/{item_id}",
    responses={200: {"headers": ETAG}, **NOT_FOUND, **CONFLICT, **PRECONDITIONS},
)
async def update_item(  # keyword-only: FastAPI passes every parameter by name
    *,
    item_id: ItemId,
    data: ItemUpdate,
    items: ItemRepositoryDep,
    cache: ItemCacheDep,
    if_match: IfMatchDep,
    settings: SettingsDep,
    response: Response,
) -> ItemRead:
    """Change an item, based on what you read: send its ETag in `If-Match` (412 if the item
    changed since), or its `version` in the body (409). `ETag` is the changed item's."""
    updated = await service.update_item(
        items=items,
        item_id=item_id,
        data=data,
        if_match=if_match,
        require_if_match=settings.items_require_if_match,
        cache=cache,
    )
    response.headers["ETag"] = str(service.item_etag(updated))
    return updated


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, **PRECONDITIONS},
)
async def delete_item(  # keyword-only: FastAPI passes every parameter by name
    *,
    item_id: ItemId,
    items: ItemRepositoryDep,
    cache: ItemCacheDep,
    if_match: IfMatchDep,
    settings: SettingsDep,
) -> None:
    """Delete an item and its tags; with `If-Match`, only while it is unchanged (412)."""
    await service.delete_item(
        items=items,
        item_id=item_id,
        if_match=if_match,
        require_if_match=settings.items_require_if_match,
        cache=cache,
    )
