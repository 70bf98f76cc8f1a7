"""SQL of the `items` feature: the only place that builds queries for it."""

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Result,
    and_,
    delete,
    false,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from .models import Item, ItemTag
from .schemas import ItemQuery

SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "created_at": Item.created_at,
    "name": Item.name,
    "price_cents": Item.price_cents,
}
# Conditional writes go to the database as they are: no object of the session is updated along.
_UNSYNCHRONIZED = {"synchronize_session": False}


@dataclass(frozen=True, slots=True)
class Revision:
    """One state of one item: its version, and its creation time, which tells apart two items
    that had the same id (SQLite gives a deleted row's id to the next insert)."""

    version: int
    created_at: datetime


class ItemRepository:
    """Loads and stores items; never commits (the request owns the transaction).

    A write that depends on the item's state says so in its WHERE (`update_if`, `delete_if`):
    the check and the change are one statement, so no concurrent writer slips in between. It is
    also the transaction's first statement, before any read: PostgreSQL and MySQL then wait for
    a concurrent writer's row lock and evaluate the WHERE on the row it committed; SQLite takes
    the file's write lock first and so reads the latest data (a read first would pin an older
    snapshot and end in SQLITE_BUSY).
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, item_id: int) -> Item | None:
        """The item with its tags, as stored now (after this session's own writes too)."""
        query = (
            select(Item)
            .options(selectinload(Item.tags))
            .where(Item.id == item_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(query)).one_or_none()

    async def add(self, item: Item) -> Item:
        self.session.add(item)
        await self.session.flush()  # assigns the id; a duplicate name fails here
        return item

    async def update_if(
        self,
        item_id: int,
        *,
        version: int | None,
        revisions: Sequence[Revision] | None,
        values: Mapping[str, Any],
    ) -> bool:
        """Set `values` and the next version, only while the item is at `version` and at one
        of `revisions` (None: either may be anything). False when no row matched.

        Writers lock the item before its tags, all in the same order: a PATCH that replaces the
        tags and a concurrent DELETE would otherwise each hold what the other waits for.
        """
        statement = (
            update(Item)
            .where(Item.id == item_id, *_at(version, revisions))
            .values(**values, version=Item.version + 1)
            .execution_options(**_UNSYNCHRONIZED)
        )
        return _changed(await self.session.execute(statement))

    async def replace_tags(self, item_id: int, tags: Sequence[str]) -> None:
        """The item's tags become `tags` (after `update_if`, which locked the item)."""
        await self.session.execute(
            delete(ItemTag).where(ItemTag.item_id == item_id).execution_options(**_UNSYNCHRONIZED)
        )
        if tags:
            rows = [{"item_id": item_id, "name": tag} for tag in tags]
            await self.session.execute(insert(ItemTag), rows)

    async def delete_if(self, item_id: int, *, revisions: Sequence[Revision] | None) -> bool:
        """Delete the item (its tags by ON DELETE CASCADE) only while it is at one of
        `revisions` (None: any). False when no row matched."""
        statement = (
            delete(Item)
            .where(Item.id == item_id, *_at(None, revisions))
            .execution_options(**_UNSYNCHRONIZED)
        )
        return _changed(await self.session.execute(statement))

    async def page(self, query: ItemQuery, *, after: tuple[Any, int] | None) -> Sequence[Item]:
        """Up to `query.limit + 1` items after the (sort key, id) position `after`."""
        descending = query.sort.startswith("-")
        column = SORT_COLUMNS[query.sort.lstrip("-")]
        statement = select(Item).options(selectinload(Item.tags)).where(*_filters(query))
        if after is not None:
            statement = statement.where(_after(column, after, descending=descending))
        order = (column.desc(), Item.id.desc()) if descending else (column.asc(), Item.id.asc())
        statement = statement.order_by(*order).limit(query.limit + 1)
        return (await self.session.scalars(statement)).all()


def _changed(result: Result[Any]) -> bool:
    """Whether a write changed a row (an UPDATE or DELETE's result is a CursorResult)."""
    return isinstance(result, CursorResult) and result.rowcount > 0


def _at(version: int | None, revisions: Sequence[Revision] | None) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a conditional write."""
    conditions: list[ColumnElement[bool]] = []
    if version is not None:
        conditions.append(Item.version == version)
    if revisions is not None:
        states = [
            and_(Item.version == revision.version, Item.created_at == revision.created_at)
            for revision in revisions
        ]
        conditions.append(or_(false(), *states))
    return conditions


def _filters(query: ItemQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.status is not None:
        conditions.append(Item.status == query.status)
    if query.tag is not None:
        conditions.append(Item.tags.any(ItemTag.name == query.tag))
    if query.min_price_cents is not None:
        conditions.append(Item.price_cents >= query.min_price_cents)
    if query.max_price_cents is not None:
        conditions.append(Item.price_cents <= query.max_price_cents)
    return conditions


def _after(
    column: InstrumentedAttribute[Any], after: tuple[Any, int], *, descending: bool
) -> ColumnElement[bool]:
    """Rows strictly after (value, id) in the sort order: the keyset condition."""
    value, last_id = after
    if descending:
        return or_(column < value, and_(column == value, Item.id < last_id))
    return or_(column > value, and_(column == value, Item.id > last_id))


def sort_value(item: Item, sort: str) -> Any:
    """The value of the sort key of `item`, as stored in a cursor."""
    value = getattr(item, sort.lstrip("-"))
    return value.isoformat() if isinstance(value, datetime) else value


def parse_sort_value(sort: str, raw: Any) -> Any:
    """The inverse of `sort_value`."""
    return datetime.fromisoformat(raw) if sort.lstrip("-") == "created_at" else raw


# A repository on a session of its own, opened only when a read needs the database (the
# request's unit of work: committed, or rolled back, when the block ends).
OpenItems = Callable[[], AbstractAsyncContextManager[ItemRepository]]
