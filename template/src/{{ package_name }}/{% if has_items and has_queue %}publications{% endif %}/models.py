"""Tables of the `publications` feature."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..kernel.models import Base, BigIntKey, UTCDateTime

# pending: requested, the job has not run yet; published: the job took the snapshot;
# superseded: the item changed before the job ran (a newer publication is requested instead);
# failed: the job was dead-lettered (it failed for good, or killed its worker every time).
STATUSES = ("pending", "published", "superseded", "failed")


class ItemPublication(Base):
    """The latest publication requested for an item, and its outcome."""

    __tablename__ = "item_publications"
    __table_args__ = (CheckConstraint(f"status IN {STATUSES}", name="status"),)

    item_id: Mapped[int] = mapped_column(
        BigIntKey, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int]  # the version of the item to publish
    status: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snapshot: Mapped[str | None] = mapped_column(Text)  # the item as published, JSON
    job_id: Mapped[str | None] = mapped_column(String(64))  # the job that published it
