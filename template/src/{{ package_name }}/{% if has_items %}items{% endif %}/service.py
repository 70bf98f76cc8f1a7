"""Logic of the `items` feature. Keyword-only arguments; never commits; never imports FastAPI."""

from ..kernel.errors import ConflictError, NotFoundError
from ..kernel.models import utcnow
from ..kernel.pagination import CursorCodec, Page
from .models import Item, ItemTag
from .repository import ItemRepository, parse_sort_value, sort_value
from .schemas import ItemCreate, ItemQuery, ItemRead, ItemUpdate

# What other features may use (import contracts, pyproject.toml): its functions take the
# repository the caller got from `items.dependencies`, or built on its own session (a job).
__all__ = [
    "ItemNotFoundError",
    "ItemRepository",
    "ItemVersionConflictError",
    "create_item",
    "delete_item",
    "find_item",
    "get_item",
    "list_items",
    "require_version",
    "update_item",
]


class ItemNotFoundError(NotFoundError):
    detail = "No item has this id."


class ItemVersionConflictError(ConflictError):
    detail = "The item changed since you read it: read it again, then reapply your change."


async def create_item(*, items: ItemRepository, data: ItemCreate) -> ItemRead:
    item = Item(
        name=data.name,
        description=data.description,
        price_cents=data.price_cents,
        status=data.status,
        tags=[ItemTag(name=tag) for tag in data.tags],
    )
    return ItemRead.model_validate(await items.add(item))


async def get_item(*, items: ItemRepository, item_id: int) -> ItemRead:
    return ItemRead.model_validate(await _existing(items, item_id))


async def find_item(*, items: ItemRepository, item_id: int) -> ItemRead | None:
    """The item, or None: for other features, which decide themselves what a missing one means."""
    item = await items.get(item_id)
    return ItemRead.model_validate(item) if item is not None else None


async def require_version(*, items: ItemRepository, item_id: int, version: int) -> ItemRead:
    """The item at `version`: 404 when it does not exist, 409 when it changed since."""
    item = await _existing(items, item_id)
    if item.version != version:
        raise ItemVersionConflictError()
    return ItemRead.model_validate(item)


async def update_item(*, items: ItemRepository, item_id: int, data: ItemUpdate) -> ItemRead:
    item = await _existing(items, item_id, for_update=True)
    if item.version != data.version:
        raise ItemVersionConflictError()
    changes = data.model_dump(exclude_unset=True, exclude={"version", "tags"})
    for field, value in changes.items():
        setattr(item, field, value)
    if data.tags is not None:
        item.tags = [ItemTag(name=tag) for tag in data.tags]
    # Always an UPDATE of the row, so the version moves even when only the tags changed.
    item.updated_at = utcnow()
    await items.flush()
    return ItemRead.model_validate(item)


async def delete_item(*, items: ItemRepository, item_id: int) -> None:
    await items.delete(await _existing(items, item_id, for_update=True))


async def list_items(
    *, items: ItemRepository, query: ItemQuery, cursors: CursorCodec
) -> Page[ItemRead]:
    context = query.filters()
    after = None
    if query.cursor is not None:
        position = cursors.decode(query.cursor, context=context)
        after = (parse_sort_value(query.sort, position["value"]), int(position["id"]))
    rows = list(await items.page(query, after=after))
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        position = {"value": sort_value(last, query.sort), "id": last.id}
        next_cursor = cursors.encode(position=position, context=context)
    return Page[ItemRead](
        items=[ItemRead.model_validate(row) for row in rows],
        next_cursor=next_cursor,
        limit=query.limit,
    )


async def _existing(items: ItemRepository, item_id: int, *, for_update: bool = False) -> Item:
    item = await items.get(item_id, for_update=for_update)
    if item is None:
        raise ItemNotFoundError()
    return item
