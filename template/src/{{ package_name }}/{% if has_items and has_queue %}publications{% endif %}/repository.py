"""SQL of the `publications` feature: the only place that builds queries for it."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import ItemPublication


class PublicationRepository:
    """Loads and stores publications; never commits (the request or the job owns it)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, item_id: int, *, for_update: bool = False) -> ItemPublication | None:
        """The item's publication; `for_update` locks its row until the transaction ends."""
        query = select(ItemPublication).where(ItemPublication.item_id == item_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.scalars(query)).one_or_none()

    async def pending_since(self, before: datetime, *, limit: int) -> list[ItemPublication]:
        """Publications still pending that were requested before `before`, oldest first."""
        query = (
            select(ItemPublication)
            .where(ItemPublication.status == "pending", ItemPublication.requested_at < before)
            .order_by(ItemPublication.requested_at)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def add(self, publication: ItemPublication) -> ItemPublication:
        self.session.add(publication)
        await self.session.flush()
        return publication

    async def flush(self) -> None:
        await self.session.flush()
