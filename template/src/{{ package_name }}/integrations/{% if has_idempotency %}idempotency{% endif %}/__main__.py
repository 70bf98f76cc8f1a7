"""`python -m <package>.integrations.idempotency purge`: delete the expired records.

Expired records are already ignored (a key is new again); this frees their space. Run it
daily (a cron job, a scheduled task); it logs how many records it deleted.
"""

import argparse
import asyncio

from ...kernel.logging import configure_logging, get_logger
from ...kernel.models import utcnow
from ...kernel.settings import Settings, get_settings
from ..db import Database
from .repository import IdempotencyRepository

logger = get_logger("idempotency")


async def purge(settings: Settings) -> int:
    """Delete the records expired by now; how many."""
    database = Database(settings)
    await database.start()
    try:
        async with database.session(label="idempotency purge") as session:
            deleted = await IdempotencyRepository(session).purge(now=utcnow())
            await session.commit()
    finally:
        await database.dispose()
    return deleted


def main() -> None:
    parser = argparse.ArgumentParser(prog=__package__, description=__doc__)
    parser.add_argument("command", choices=["purge"])
    parser.parse_args()
    settings = get_settings()
    configure_logging(settings)
    deleted = asyncio.run(purge(settings))
    logger.info("idempotency_purged", records=deleted)


if __name__ == "__main__":
    main()
