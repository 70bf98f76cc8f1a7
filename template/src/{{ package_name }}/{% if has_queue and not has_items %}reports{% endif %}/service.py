"""Logic of the `reports` feature. Keyword-only arguments; never imports FastAPI."""

import asyncio
import uuid

from ..integrations.queue import JobQueue
from ..kernel.errors import NotFoundError
from ..kernel.settings import Settings
from .schemas import ReportAccepted, ReportRead, ReportRequest
from .tasks import render_report, report_path


class ReportNotFoundError(NotFoundError):
    detail = "No report with this id has been rendered (yet)."


async def request_report(
    *, queue: JobQueue, data: ReportRequest, request_id: str | None = None
) -> ReportAccepted:
    """Enqueue the job that renders the report (no transaction here: it is enqueued at once).

    `request_id` (32 hex digits) names a request that its retries repeat: the report and its
    job are named by it, so a retry sends the same job again (the job renders a report once)."""
    report_id = request_id or uuid.uuid4().hex
    job_id = await queue.enqueue_as(
        request_id or uuid.uuid4().hex,
        render_report,
        report_id=report_id,
        title=data.title,
        pages=data.pages,
    )
    return ReportAccepted(report_id=report_id, job_id=job_id)


async def get_report(*, settings: Settings, report_id: str) -> ReportRead:
    """The report the worker wrote (the file appears whole, see tasks.py), or 404."""
    path = report_path(settings, report_id)
    try:
        text = await asyncio.to_thread(path.read_text)
    except FileNotFoundError as exc:
        raise ReportNotFoundError() from exc
    return ReportRead.model_validate_json(text)
