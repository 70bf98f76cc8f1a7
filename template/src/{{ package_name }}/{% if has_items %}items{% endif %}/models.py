"""Tables of the `items` feature."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..kernel.models import Base, BigIntKey, UTCDateTime, utcnow

STATUSES = ("draft", "active", "archived")


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        # Keyset pagination walks (sort key, id): one index per sortable key.
        Index("ix_items_created_at_id", "created_at", "id"),
        Index("ix_items_price_cents_id", "price_cents", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text)
    price_cents: Mapped[int]
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    tags: Mapped[list["ItemTag"]] = relationship(
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,  # the database deletes the tags (ON DELETE CASCADE)
        order_by="ItemTag.name",
    )

    # Version 1 on insert, and an ORM update of a loaded item says WHERE version = <the version
    # read>; the feature's own writes state their condition themselves (repository.py).
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API


class ItemTag(Base):
    __tablename__ = "item_tags"

    item_id: Mapped[int] = mapped_column(
        BigIntKey, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
