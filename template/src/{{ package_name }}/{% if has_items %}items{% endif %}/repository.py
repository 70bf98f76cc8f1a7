"""SQL of the `items` feature: the only place that builds queries for it."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from .models import Item, ItemTag
from .schemas import ItemQuery

SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "created_at": Item.created_at,
    "name": Item.name,
    "price_cents": Item.price_cents,
}


class ItemRepository:
    """Loads and stores items; never commits (the request owns the transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, item_id: int, *, for_update: bool = False) -> Item | None:
        """The item with its tags; `for_update` locks its row until the transaction ends.

        Writers lock the item before its tags, all in the same order: a PATCH that replaces the
        tags and a concurrent DELETE would otherwise each hold what the other waits for.
        """
        query = select(Item).options(selectinload(Item.tags)).where(Item.id == item_id)
        if for_update:
            query = query.with_for_update(of=Item)
        return (await self.session.scalars(query)).one_or_none()

    async def add(self, item: Item) -> Item:
        self.session.add(item)
        await self.session.flush()  # assigns the id; a duplicate name fails here
        return item

    async def flush(self) -> None:
        """Send pending changes now, so conflicts surface inside the request."""
        await self.session.flush()

    async def delete(self, item: Item) -> None:
        await self.session.delete(item)
        await self.session.flush()

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
