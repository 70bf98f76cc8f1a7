"""Logic of the `reports` feature. Keyword-only arguments; never imports FastAPI."""

import uuid

from ..core.queue import JobQueue
from .schemas import ReportAccepted, ReportRequest
from .tasks import render_report


async def request_report(*, queue: JobQueue, data: ReportRequest) -> ReportAccepted:
    """Enqueue the job that renders the report (no transaction here: it is enqueued at once)."""
    report_id = uuid.uuid4().hex
    job_id = await queue.enqueue(
        render_report, report_id=report_id, title=data.title, pages=data.pages
    )
    return ReportAccepted(report_id=report_id, job_id=job_id)
