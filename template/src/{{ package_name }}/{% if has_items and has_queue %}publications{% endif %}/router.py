"""HTTP endpoints of the `publications` feature."""

from typing import Any

from fastapi import APIRouter, status

from ..core.queue import JobQueueDep
from ..items.dependencies import ItemRepositoryDep
from . import service
from .dependencies import PublicationRepositoryDep
from .schemas import PublicationRead, PublicationRequest

router = APIRouter(prefix="/items/{item_id}/publication", tags=["publications"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No item has this id, or it was never published."},
    409: {"description": "The item changed since it was read."},
    503: {"description": "Saved, but the job could not be enqueued: retry."},
}


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses=PROBLEMS)
async def request_publication(
    item_id: int,
    data: PublicationRequest,
    items: ItemRepositoryDep,
    publications: PublicationRepositoryDep,
    queue: JobQueueDep,
) -> PublicationRead:
    """Publish the item's version you read, in the background: poll GET until `published`.

    Safe to repeat: the job is enqueued again, and runs only once per version.
    """
    return await service.request_publication(
        items=items, publications=publications, queue=queue, item_id=item_id, data=data
    )


@router.get("", responses={404: PROBLEMS[404]})
async def get_publication(item_id: int, publications: PublicationRepositoryDep) -> PublicationRead:
    """The item's latest publication: pending, published (with the snapshot) or superseded."""
    return await service.get_publication(publications=publications, item_id=item_id)
