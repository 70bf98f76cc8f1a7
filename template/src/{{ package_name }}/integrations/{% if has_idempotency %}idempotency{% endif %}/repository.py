"""The SQL of the idempotency records (never committed here: the caller owns the transaction)."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CursorResult, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .models import COMPLETED, IN_FLIGHT, IdempotencyRecord


@dataclass(frozen=True, slots=True)
class Lease:
    """A claim's identity and times: what `claim` and `take_over` write."""

    scope: str
    key: str
    fingerprint: str
    token: str
    locked_until: datetime
    expires_at: datetime


def _changed(result: object) -> int:
    if not isinstance(result, CursorResult):
        raise TypeError("a DML statement returns a cursor result")
    return result.rowcount


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, lease: Lease) -> bool:
        """Insert the record in flight; False when the key already has one (then the
        transaction is rolled back: the caller reads the existing record in a new one)."""
        try:
            await self.session.execute(
                insert(IdempotencyRecord).values(
                    scope=lease.scope,
                    key=lease.key,
                    fingerprint=lease.fingerprint,
                    token=lease.token,
                    state=IN_FLIGHT,
                    locked_until=lease.locked_until,
                    expires_at=lease.expires_at,
                )
            )
        except IntegrityError:
            await self.session.rollback()
            return False
        return True

    async def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        found = await self.session.execute(
            select(IdempotencyRecord)
            .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
            .execution_options(populate_existing=True)
        )
        return found.scalar_one_or_none()

    async def take_over(self, lease: Lease, *, now: datetime) -> bool:
        """Claim a record that expired, or whose claim's lock ran out (its process died): in
        one conditional UPDATE, so of two requests taking over, one wins."""
        record = IdempotencyRecord
        stale = or_(
            record.expires_at <= now,
            and_(record.state == IN_FLIGHT, record.locked_until <= now),
        )
        result = await self.session.execute(
            update(record)
            .where(record.scope == lease.scope, record.key == lease.key, stale)
            .values(
                fingerprint=lease.fingerprint,
                token=lease.token,
                state=IN_FLIGHT,
                status=None,
                headers=None,
                body=None,
                locked_until=lease.locked_until,
                expires_at=lease.expires_at,
                created_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return _changed(result) == 1

    async def complete(
        self, lease: Lease, *, status: int, headers: dict[str, str], body: bytes
    ) -> bool:
        """Store the response of the claim `lease`; False when the claim was taken over."""
        record = IdempotencyRecord
        result = await self.session.execute(
            update(record)
            .where(
                record.scope == lease.scope,
                record.key == lease.key,
                record.token == lease.token,
                record.state == IN_FLIGHT,
            )
            .values(state=COMPLETED, status=status, headers=headers, body=body)
            .execution_options(synchronize_session=False)
        )
        return _changed(result) == 1

    async def release(self, lease: Lease) -> None:
        """Delete the claim `lease` while still in flight: a retry runs again."""
        record = IdempotencyRecord
        await self.session.execute(
            delete(record)
            .where(
                record.scope == lease.scope,
                record.key == lease.key,
                record.token == lease.token,
                record.state == IN_FLIGHT,
            )
            .execution_options(synchronize_session=False)
        )

    async def purge(self, *, now: datetime) -> int:
        """Delete the expired records; how many."""
        result = await self.session.execute(
            delete(IdempotencyRecord)
            .where(IdempotencyRecord.expires_at <= now)
            .execution_options(synchronize_session=False)
        )
        return _changed(result)
