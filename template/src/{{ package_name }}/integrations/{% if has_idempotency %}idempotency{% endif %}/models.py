"""The idempotency records: one per client and key, in the service's own database."""

from datetime import datetime

from sqlalchemy import JSON, Index, LargeBinary, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from ...kernel.models import Base, UTCDateTime, utcnow

IN_FLIGHT = "in_flight"
COMPLETED = "completed"
# MySQL's BLOB stops at 64 KiB; a response body may be larger.
Body = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql")


class IdempotencyRecord(Base):
    """A request under its key: in flight (claimed, `token` names the claim) or completed (its
    response, replayed until `expires_at`)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (Index("ix_idempotency_records_expires_at", "expires_at"),)

    scope: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(20))
    status: Mapped[int | None]
    headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    body: Mapped[bytes | None] = mapped_column(Body)
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
