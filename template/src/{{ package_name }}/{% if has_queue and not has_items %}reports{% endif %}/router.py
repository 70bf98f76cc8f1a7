"""HTTP endpoints of the `reports` feature."""

from fastapi import APIRouter, status

from ..core.queue import JobQueueDep
from . import service
from .schemas import ReportAccepted, ReportRequest

router = APIRouter(prefix="/reports", tags=["reports"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={503: {"description": "The broker is unreachable: retry."}},
)
async def request_report(data: ReportRequest, queue: JobQueueDep) -> ReportAccepted:
    """Render a report in the background; the answer carries the job's id."""
    return await service.request_report(queue=queue, data=data)
