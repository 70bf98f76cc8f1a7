"""Request and response shapes of the `reports` feature."""

from typing import Annotated

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field

from ..kernel.bounds import NotBool

# Report ids are uuid4 hex: nothing else may become a file name under report_dir.
REPORT_ID = r"^[0-9a-f]{32}$"


class ReportRequest(BaseModel):
    """A report to render in the background."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    pages: Annotated[int, Ge(1), Le(100), NotBool] = Field(
        1, description="Each page takes the worker a moment."
    )


class ReportAccepted(BaseModel):
    """The report is on its way: the job that renders it has been enqueued."""

    report_id: str
    job_id: str


class ReportPage(BaseModel):
    page: int
    title: str


class ReportRead(BaseModel):
    """A rendered report, as the job wrote it."""

    report_id: str
    title: str
    pages: list[ReportPage]
    job_id: str = Field(description="The job that rendered it.")
