"""Logic of the `publications` feature. Keyword-only arguments; never commits."""

from ..integrations.db import after_commit
from ..integrations.queue import JobQueue
from ..items.service import ItemRepository, require_version
from ..kernel.errors import NotFoundError
from ..kernel.models import utcnow
from .models import ItemPublication
from .repository import PublicationRepository
from .schemas import PublicationRead, PublicationRequest
from .tasks import publish_item


class PublicationNotFoundError(NotFoundError):
    detail = "This item has never been published."


async def request_publication(
    *,
    items: ItemRepository,
    publications: PublicationRepository,
    queue: JobQueue,
    item_id: int,
    data: PublicationRequest,
) -> PublicationRead:
    """Record a pending publication; the job is enqueued only once the transaction commits."""
    await require_version(items=items, item_id=item_id, version=data.version)
    publication = await publications.get(item_id, for_update=True)
    if publication is None:
        publication = ItemPublication(item_id=item_id)
    elif publication.version == data.version and publication.status == "published":
        return PublicationRead.model_validate(publication)  # done: nothing to enqueue
    publication.version = data.version
    publication.status = "pending"
    publication.requested_at = utcnow()
    publication.published_at = publication.snapshot = publication.job_id = None
    await publications.add(publication)
    # Enqueued inside the transaction, the job could run before the commit and find nothing.
    after_commit(
        publications.session,
        lambda: queue.enqueue(publish_item, item_id=item_id, version=data.version),
    )
    return PublicationRead.model_validate(publication)


async def get_publication(*, publications: PublicationRepository, item_id: int) -> PublicationRead:
    publication = await publications.get(item_id)
    if publication is None:
        raise PublicationNotFoundError()
    return PublicationRead.model_validate(publication)
