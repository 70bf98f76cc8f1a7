"""HTTP endpoints of the `publications` feature."""

from fastapi import APIRouter, Request, Response, status

from ..integrations.queue import JobQueueDep
from ..items.dependencies import ItemRepositoryDep
from ..items.router import READ, WRITE, ItemId
from ..kernel.dependencies import LOCATION, location
from ..kernel.openapi import problems
from . import service
from .dependencies import PublicationRepositoryDep
from .schemas import PublicationRead, PublicationRequest

router = APIRouter(
    prefix="/items/{item_id}/publication",
    tags=["publications"],
    responses=problems({503: "The database is busy, or the job could not be enqueued: retry."}),
)
NOT_FOUND = problems({404: "No item has this id, or it was never published."})


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        202: {"headers": LOCATION},
        **NOT_FOUND,
        **problems({409: "The item changed since it was read."}),
    },
    dependencies=WRITE,
)
async def request_publication(  # keyword-only: FastAPI passes every parameter by name
    *,
    item_id: ItemId,
    data: PublicationRequest,
    items: ItemRepositoryDep,
    publications: PublicationRepositoryDep,
    queue: JobQueueDep,
    request: Request,
    response: Response,
) -> PublicationRead:
    """Publish the item's version you read, in the background: poll `Location` until published.

    Safe to repeat: the job is enqueued again, and runs only once per version.
    """
    accepted = await service.request_publication(
        items=items, publications=publications, queue=queue, item_id=item_id, data=data
    )
    response.headers["Location"] = location(request)  # GET on this path: the publication
    return accepted


@router.get("", responses=NOT_FOUND, dependencies=READ)
async def get_publication(
    item_id: ItemId, publications: PublicationRepositoryDep
) -> PublicationRead:
    """The item's latest publication: pending, published (with the snapshot), superseded, or
    failed (its job was dead-lettered: it failed for good, or its worker died every time)."""
    return await service.get_publication(publications=publications, item_id=item_id)
