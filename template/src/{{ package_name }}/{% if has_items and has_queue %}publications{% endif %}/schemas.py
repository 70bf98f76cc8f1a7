"""Request and response shapes of the `publications` feature."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..items.schemas import ItemRead, Version

Status = Literal["pending", "published", "superseded", "failed"]  # models.STATUSES


class PublicationRequest(BaseModel):
    """Publish this version of the item (the one you read)."""

    model_config = ConfigDict(extra="forbid")

    version: Version = Field(description="The item version to publish; 409 if it moved since.")


class PublicationRead(BaseModel):
    """A publication and, once the job has run, the item as published."""

    model_config = ConfigDict(from_attributes=True)

    item_id: int
    version: int
    status: Status
    requested_at: datetime
    published_at: datetime | None
    job_id: str | None = Field(description="The job that published it.")
    snapshot: ItemRead | None = Field(description="The item as published.")

    @field_validator("snapshot", mode="before")
    @classmethod
    def _parse_snapshot(cls, snapshot: object) -> object:
        return ItemRead.model_validate_json(snapshot) if isinstance(snapshot, str) else snapshot
