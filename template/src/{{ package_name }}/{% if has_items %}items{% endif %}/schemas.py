"""Request and response shapes of the `items` feature."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Status = Literal["draft", "active", "archived"]
# The whitelisted sorts: a leading "-" means descending. Each has a (key, id) index.
Sort = Literal["created_at", "-created_at", "name", "-name", "price_cents", "-price_cents"]
Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class ItemCreate(BaseModel):
    """A new item."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Unique name.")
    description: str = Field("", max_length=10_000)
    price_cents: int = Field(ge=0, le=100_000_000, description="Price in cents.")
    status: Status = "draft"
    tags: list[Tag] = Field(default_factory=list, max_length=20)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        return sorted(set(tags))


class ItemUpdate(BaseModel):
    """Changes to an item. `version` must be the version you read (optimistic concurrency)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="The version this change is based on.")
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    price_cents: int | None = Field(None, ge=0, le=100_000_000)
    status: Status | None = None
    tags: list[Tag] | None = Field(None, max_length=20)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else sorted(set(tags))


class ItemRead(BaseModel):
    """An item as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    price_cents: int
    status: Status
    tags: list[str]
    version: int = Field(description="Send it back in PATCH to update this version.")
    created_at: datetime
    updated_at: datetime

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, tags: list[object]) -> list[object]:
        return [getattr(tag, "name", tag) for tag in tags]


class ItemQuery(BaseModel):
    """Filters, sort and page of the item list; only these fields are accepted."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = Field(None, description="Only items with this status.")
    tag: Tag | None = Field(None, description="Only items carrying this tag.")
    min_price_cents: int | None = Field(None, ge=0)
    max_price_cents: int | None = Field(None, ge=0)
    sort: Sort = Field("-created_at", description="Sort key; a leading '-' is descending.")
    limit: int = Field(20, ge=1, le=100, description="Page size.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")

    def filters(self) -> dict[str, object]:
        """The filters and sort a cursor is bound to (not the page size)."""
        return self.model_dump(exclude={"limit", "cursor"}, exclude_none=True)
