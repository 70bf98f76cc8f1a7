"""Background jobs of the `reports` feature (run by the worker, see worker/jobs.py)."""

import asyncio
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from ..kernel.jobs import JobContext, job
from ..kernel.logging import get_logger
from ..kernel.settings import Settings

logger = get_logger(__name__)
# Rendering one page stands for the real work of a job: queries, HTTP calls, a file to build.
PAGE_SECONDS = 0.5


def report_path(settings: Settings, report_id: str) -> Path:
    directory = settings.report_dir or f"{tempfile.gettempdir()}/{settings.service_name}-reports"
    return Path(directory) / f"{report_id}.json"


@job(name="reports.render_report")
async def render_report(ctx: JobContext, *, report_id: str, title: str, pages: int) -> None:
    """Render report `report_id` into `report_dir`/<report_id>.json.

    Idempotent, keyed by the report id: a report already written is left alone, and the file
    appears whole or not at all (written aside, then renamed), so a second run changes nothing.
    """
    path = report_path(ctx.settings, report_id)
    if await asyncio.to_thread(path.exists):
        logger.info("report_skipped", report_id=report_id, reason="already rendered")
        return
    rendered = []
    for page in range(1, pages + 1):
        await asyncio.sleep(PAGE_SECONDS)
        rendered.append({"page": page, "title": title})
    document = {"report_id": report_id, "title": title, "pages": rendered, "job_id": ctx.job_id}
    await asyncio.to_thread(_write_atomically, path, json.dumps(document))
    logger.info("report_rendered", report_id=report_id, pages=pages)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(path)


@job(name="reports.render_daily_report")
async def render_daily_report(ctx: JobContext) -> None:
    """Periodic: the report of the day (UTC), `daily-<date>`, rendered once whatever the
    number of times the tick is delivered (the report id is the day)."""
    day = datetime.now(UTC).date().isoformat()
    await render_report.func(ctx, report_id=f"daily-{day}", title=f"Daily report {day}", pages=1)
