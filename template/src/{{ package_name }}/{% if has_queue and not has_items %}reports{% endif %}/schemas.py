"""Request and response shapes of the `reports` feature."""

from pydantic import BaseModel, ConfigDict, Field


class ReportRequest(BaseModel):
    """A report to render in the background."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    pages: int = Field(1, ge=1, le=100, description="Each page takes the worker a moment.")


class ReportAccepted(BaseModel):
    """The report is on its way: the job that renders it has been enqueued."""

    report_id: str
    job_id: str
