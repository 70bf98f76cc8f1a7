"""Logic of the `items` feature. Keyword-only arguments; never commits; never imports FastAPI."""

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

from ..integrations.db import after_commit
from ..kernel.bounds import INT32_MAX
from ..kernel.cache import UNCACHED, ReadThrough, Uncached, read_model
from ..kernel.conditional import (
    EntityTags,
    ETag,
    PreconditionFailedError,
    PreconditionRequiredError,
    Selected,
    conditional_read,
)
from ..kernel.errors import ConflictError, NotFoundError, ProblemError
from ..kernel.models import utcnow
from ..kernel.pagination import CursorCodec, Page
from .models import Item, ItemTag
from .repository import ItemRepository, OpenItems, Revision, parse_sort_value, sort_value
from .schemas import ItemCreate, ItemQuery, ItemRead, ItemUpdate

# What other features may use (import contracts, pyproject.toml): its functions take the
# repository the caller got from `items.dependencies`, or built on its own session (a job).
__all__ = [
    "ItemNotFoundError",
    "ItemPreconditionFailedError",
    "ItemPreconditionRequiredError",
    "ItemRepository",
    "ItemVersionConflictError",
    "create_item",
    "delete_item",
    "find_item",
    "get_item",
    "item_etag",
    "item_key",
    "list_items",
    "page_etag",
    "read_item",
    "read_page",
    "require_version",
    "update_item",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# An item's ETag: "<id>-<version>-<microseconds from EPOCH to created_at>".
_ITEM_TAG = re.compile(r"([0-9]{1,19})-([0-9]{1,10})-([0-9]{1,19})")


class ItemNotFoundError(NotFoundError):
    detail = "No item has this id."


class ItemVersionConflictError(ConflictError):
    detail = "The item changed since you read it: read it again, then reapply your change."


class ItemPreconditionFailedError(PreconditionFailedError):
    detail = "The item changed since you read it (If-Match): read it again, then reapply it."


class ItemPreconditionRequiredError(PreconditionRequiredError):
    detail = "Send If-Match with the item's ETag you read, or its version in the body."


IF_MATCH_REQUIRED = "Send If-Match with the item's ETag you read: this service requires it."


def item_etag(item: ItemRead) -> ETag:
    """Strong, and new with every write: the version moves on each one. The creation time keeps
    an item's tags from matching a later item that got its id back (SQLite reuses ids)."""
    return ETag(_opaque(item.id, item.version, item.created_at))


def page_etag(page: Page[ItemRead]) -> ETag:
    """Weak: the same items at the same versions, and the same next cursor, make an equivalent
    page (its bytes could still differ, say in the JSON's key order)."""
    content = [[item_etag(item).opaque for item in page.items], page.next_cursor, page.limit]
    digest = hashlib.blake2b(json.dumps(content).encode(), digest_size=16).hexdigest()
    return ETag(digest, weak=True)


def item_key(item_id: int) -> str:
    """The item's key in a read-through cache."""
    return f"items:{item_id}"


async def create_item(
    *, items: ItemRepository, data: ItemCreate, cache: ReadThrough = UNCACHED
) -> ItemRead:
    item = Item(
        name=data.name,
        description=data.description,
        price_cents=data.price_cents,
        status=data.status,
        tags=[ItemTag(name=tag) for tag in data.tags],
    )
    created = ItemRead.model_validate(await items.add(item))
    # A 404 cached for this id must not hide the new item (SQLite reuses a deleted row's id).
    _forget_after_commit(items, cache, created.id)
    return created


async def get_item(*, items: ItemRepository, item_id: int) -> ItemRead:
    return ItemRead.model_validate(await _existing(items, item_id))


async def read_item(
    *,
    open_items: OpenItems,
    item_id: int,
    if_none_match: EntityTags | None,
    cache: ReadThrough = UNCACHED,
) -> Selected[ItemRead]:
    """The item and its ETag, or only the ETag while the client's copy is current; read
    through `cache`, which remembers a missing item too (briefly). The database session is
    opened only when the cache has no answer: a hit takes no pooled connection."""

    async def load() -> ItemRead | None:
        async with open_items() as items:
            return await find_item(items=items, item_id=item_id)

    item = await read_model(cache, item_key(item_id), ItemRead, load)
    if item is None:
        raise ItemNotFoundError()
    return conditional_read(item, item_etag(item), if_none_match)


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


async def update_item(
    *,
    items: ItemRepository,
    item_id: int,
    data: ItemUpdate,
    if_match: EntityTags | None = None,
    require_if_match: bool = False,
    cache: ReadThrough = UNCACHED,
) -> ItemRead:
    """Apply `data` while the item is as the client read it: at the body's `version` (409
    otherwise) and at an ETag of If-Match (412 otherwise), both checked by the UPDATE itself.
    A change with neither condition is refused (428): it would overwrite unseen changes."""
    if if_match is None and (require_if_match or data.version is None):
        raise ItemPreconditionRequiredError(IF_MATCH_REQUIRED if require_if_match else None)
    changes = data.model_dump(exclude_unset=True, exclude={"version", "tags"})
    # Always an UPDATE of the row, so the version moves even when only the tags changed.
    values = {**changes, "updated_at": utcnow()}
    revisions = _revisions(item_id, if_match)
    if not await items.update_if(item_id, version=data.version, revisions=revisions, values=values):
        raise await _refusal(items, item_id, if_match, version=data.version)
    if data.tags is not None:
        await items.replace_tags(item_id, data.tags)
    _forget_after_commit(items, cache, item_id)
    return await get_item(items=items, item_id=item_id)


async def delete_item(
    *,
    items: ItemRepository,
    item_id: int,
    if_match: EntityTags | None = None,
    require_if_match: bool = False,
    cache: ReadThrough = UNCACHED,
) -> None:
    """Delete the item, only while it is at an ETag of If-Match when one is sent (412)."""
    if if_match is None and require_if_match:
        raise ItemPreconditionRequiredError(IF_MATCH_REQUIRED)
    if not await items.delete_if(item_id, revisions=_revisions(item_id, if_match)):
        raise await _refusal(items, item_id, if_match, version=None)
    _forget_after_commit(items, cache, item_id)


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


async def read_page(
    *,
    items: ItemRepository,
    query: ItemQuery,
    cursors: CursorCodec,
    if_none_match: EntityTags | None,
) -> Selected[Page[ItemRead]]:
    """A page and its weak ETag, or only the ETag while the client's copy is current."""
    page = await list_items(items=items, query=query, cursors=cursors)
    return conditional_read(page, page_etag(page), if_none_match)


async def _existing(items: ItemRepository, item_id: int) -> Item:
    item = await items.get(item_id)
    if item is None:
        raise ItemNotFoundError()
    return item


def _forget_after_commit(items: ItemRepository, cache: ReadThrough, item_id: int) -> None:
    """Invalidate the item's cached read once the write is committed: before, a concurrent
    read could load and cache the row as it still is."""
    if not isinstance(cache, Uncached):
        after_commit(items.session, lambda: cache.invalidate(item_key(item_id)))


def _opaque(item_id: int, version: int, created_at: datetime) -> str:
    return f"{item_id}-{version}-{(created_at - EPOCH) // timedelta(microseconds=1)}"


def _revisions(item_id: int, if_match: EntityTags | None) -> list[Revision] | None:
    """The states of this item that If-Match names, for the write's WHERE; None: any state.

    Only strong tags count (If-Match compares strongly), and only those this service made for
    this item: any other matches no state, so the write matches no row.
    """
    if if_match is None or if_match.wildcard:
        return None
    revisions = []
    for tag in if_match.tags:
        if tag.weak or (found := _ITEM_TAG.fullmatch(tag.opaque)) is None:
            continue
        version, micros = int(found[2]), int(found[3])
        try:
            revision = Revision(version, EPOCH + timedelta(microseconds=micros))
        except OverflowError:  # past the year 9999: no item was created then
            continue
        # Character for character, as strong comparison is: "07-1-0" is not "7-1-0".
        if version <= INT32_MAX and _opaque(item_id, version, revision.created_at) == tag.opaque:
            revisions.append(revision)
    return revisions


async def _refusal(
    items: ItemRepository, item_id: int, if_match: EntityTags | None, *, version: int | None
) -> ProblemError:
    """Why a conditional write matched no row, read after it (for the answer only): the item
    is gone (404), If-Match names none of its ETags (412), or its version moved (409)."""
    item = await items.get(item_id)
    if item is None:
        return ItemNotFoundError()
    current = item_etag(ItemRead.model_validate(item))
    if if_match is not None and (version is None or not if_match.matches_strongly(current)):
        return ItemPreconditionFailedError()
    return ItemVersionConflictError()
