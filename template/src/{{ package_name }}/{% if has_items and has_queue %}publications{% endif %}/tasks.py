"""Background jobs of the `publications` feature (run by the worker, see worker/jobs.py)."""

import functools
from datetime import timedelta

from ..integrations.db import Database, after_commit
from ..integrations.queue import JobQueue
from ..items.service import ItemRepository, find_item
from ..kernel.jobs import DeadLetter, JobContext, job
from ..kernel.logging import get_logger
from ..kernel.models import utcnow
from .repository import PublicationRepository

logger = get_logger(__name__)
# Publications one sweep sends again at most: a backlog drains over a few ticks, never at once.
SWEEP_BATCH = 100


async def mark_failed(ctx: JobContext, letter: DeadLetter) -> None:
    """The job was dead-lettered: its publication is `failed`, unless a newer one was asked for.

    Requeueing the dead letter (`python -m <package>.worker.deadletters requeue`) runs the job
    again once the cause is fixed: it publishes a failed publication as it does a pending one.
    """
    item_id, version = letter.arguments["item_id"], letter.arguments["version"]
    database = ctx.resource(Database)
    async with database.session(label="dead letter publications.publish_item") as session:
        publication = await PublicationRepository(session).get(item_id, for_update=True)
        if publication is None or publication.version != version:
            return
        if publication.status == "pending":
            publication.status = "failed"
            publication.job_id = ctx.job_id
            await session.commit()
    logger.warning("publication_failed", item_id=item_id, version=version, job_id=ctx.job_id)


@job(name="publications.publish_item", on_dead_letter=mark_failed)
async def publish_item(ctx: JobContext, *, item_id: int, version: int) -> None:
    """Publish version `version` of item `item_id`: store its snapshot in its publication.

    Idempotent, keyed by (item id, version): the publication row is locked first, and a second
    run (a redelivery, a retry) finds it published and changes nothing; a run for a version that
    is no longer the one requested does nothing either. The job is its own unit of work: it
    commits once, at the end.
    """
    database = ctx.resource(Database)
    async with database.session(label=f"job {publish_item.name}") as session:
        publications = PublicationRepository(session)
        publication = await publications.get(item_id, for_update=True)
        if publication is None or publication.version != version:
            logger.info("publication_skipped", item_id=item_id, version=version, reason="gone")
            return
        if publication.status not in {"pending", "failed"}:  # failed: requeued by an operator
            logger.info("publication_skipped", item_id=item_id, reason=publication.status)
            return
        item = await find_item(items=ItemRepository(session), item_id=item_id)
        if item is None or item.version != version:
            publication.status = "superseded"
        else:
            publication.status = "published"
            publication.published_at = utcnow()
            publication.snapshot = item.model_dump_json()
            publication.job_id = ctx.job_id
        await session.commit()
    logger.info("publication_done", item_id=item_id, version=version, status=publication.status)


@job(name="publications.send_stale_again")
async def send_stale_again(ctx: JobContext) -> None:
    """Periodic: send again the publications pending for `publication_stale_after_seconds`.

    A publication is committed before its job is sent (`after_commit`); when the broker was down
    at that moment the request got a 503 and the job was never sent. This sweep sends it again,
    once its own transaction has committed, like a request would: a rollback sends nothing.
    """
    database, queue = ctx.resource(Database), ctx.resource(JobQueue)
    stale_after = timedelta(seconds=ctx.settings.publication_stale_after_seconds)
    async with database.session(label=f"job {send_stale_again.name}") as session:
        publications = PublicationRepository(session)
        stale = await publications.pending_since(utcnow() - stale_after, limit=SWEEP_BATCH)
        for publication in stale:
            publication.requested_at = utcnow()  # not swept again before this job has had time
            send = functools.partial(
                queue.enqueue,
                publish_item,
                item_id=publication.item_id,
                version=publication.version,
            )
            after_commit(session, send)
        await session.commit()
    logger.info("publications_swept", sent_again=len(stale))
