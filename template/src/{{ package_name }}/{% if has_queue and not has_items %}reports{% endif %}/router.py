"""HTTP endpoints of the `reports` feature."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from ..integrations.queue import JobQueueDep
from ..kernel.dependencies import LOCATION, SettingsDep, location
from ..kernel.openapi import problems
from . import service
from .schemas import REPORT_ID, ReportAccepted, ReportRead, ReportRequest

router = APIRouter(prefix="/reports", tags=["reports"])
ReportId = Annotated[str, Path(pattern=REPORT_ID, description="The id the request answered.")]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        202: {"headers": LOCATION},
        **problems({503: "The broker is unreachable: retry."}),
    },
)
async def request_report(
    data: ReportRequest, queue: JobQueueDep, request: Request, response: Response
) -> ReportAccepted:
    """Render a report in the background; `Location` is where it appears once rendered."""
    accepted = await service.request_report(queue=queue, data=data)
    response.headers["Location"] = location(request, accepted.report_id)
    return accepted


@router.get("/{report_id}", responses=problems({404: "Not rendered (yet), or no such report."}))
async def get_report(report_id: ReportId, settings: SettingsDep) -> ReportRead:
    """A rendered report (404 until the worker has written it to the shared report_dir)."""
    return await service.get_report(settings=settings, report_id=report_id)
