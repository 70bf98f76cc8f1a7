"""Background jobs of the `publications` feature (run by the worker, see worker/jobs.py)."""

from ..core.jobs import JobContext, job
from ..core.logging import get_logger
from ..core.models import utcnow
from ..items.repository import ItemRepository
from ..items.schemas import ItemRead
from .repository import PublicationRepository

logger = get_logger(__name__)


@job(name="publications.publish_item")
async def publish_item(ctx: JobContext, *, item_id: int, version: int) -> None:
    """Publish version `version` of item `item_id`: store its snapshot in its publication.

    Idempotent, keyed by (item id, version): the publication row is locked first, and a second
    run (a redelivery, a retry) finds it published and changes nothing; a run for a version that
    is no longer the one requested does nothing either. The job is its own unit of work: it
    commits once, at the end.
    """
    database = ctx.resources["db"]
    async with database.session(label=f"job {publish_item.name}") as session:
        publications = PublicationRepository(session)
        publication = await publications.get(item_id, for_update=True)
        if publication is None or publication.version != version:
            logger.info("publication_skipped", item_id=item_id, version=version, reason="gone")
            return
        if publication.status != "pending":
            logger.info("publication_skipped", item_id=item_id, reason=publication.status)
            return
        item = await ItemRepository(session).get(item_id)
        if item is None or item.version != version:
            publication.status = "superseded"
        else:
            publication.status = "published"
            publication.published_at = utcnow()
            publication.snapshot = ItemRead.model_validate(item).model_dump_json()
            publication.job_id = ctx.job_id
        await session.commit()
    logger.info("publication_done", item_id=item_id, version=version, status=publication.status)
