"""Request and response shapes of the `items` feature."""

from datetime import datetime
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from pydantic.json_schema import SkipJsonSchema

from ..kernel.bounds import INT32_MAX, Count32, NotBool, StorableText

Status = Literal["draft", "active", "archived"]
# The whitelisted sorts: a leading "-" means descending. Each has a (key, id) index.
Sort = Literal["created_at", "-created_at", "name", "-name", "price_cents", "-price_cents"]
# Each bound is the column's (models.py): String(200), String(50), Integer.
Name = Annotated[StorableText, Field(min_length=1, max_length=200)]
Description = Annotated[StorableText, Field(max_length=10_000)]
Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9-]*$")]
Tags = Annotated[list[Tag], Field(max_length=20)]
PriceCents = Annotated[int, Ge(0), Le(100_000_000), NotBool, Field(description="Price in cents.")]
Version = Annotated[int, Ge(1), Le(INT32_MAX), NotBool]
# PATCH may leave its version out (If-Match instead), but not send null. A nullable int, not a
# union with None, so a bad value is one error; the schema shows only the integer.
UpdateVersion = Annotated[
    int | None,
    Ge(1),
    Le(INT32_MAX),
    NotBool,
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": INT32_MAX}),
]
# PATCH: a field left out keeps its value; null is no value for a column that holds one (422).
Omitted = SkipJsonSchema[None]


class ItemCreate(BaseModel):
    """A new item."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="Unique name.")
    description: Description = ""
    price_cents: PriceCents
    status: Status = "draft"
    tags: Tags = Field(default_factory=list)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        return sorted(set(tags))


class ItemUpdate(BaseModel):
    """Changes to an item, based on what you read (optimistic concurrency): send its `version`
    here, or its ETag in If-Match (or both)."""

    model_config = ConfigDict(extra="forbid")

    version: UpdateVersion = Field(
        None, description="The version this change is based on (409 if the item moved since)."
    )
    name: Name | Omitted = None
    description: Description | Omitted = None
    price_cents: PriceCents | Omitted = None
    status: Status | Omitted = None
    tags: Tags | Omitted = None

    @field_validator(
        "version", "name", "description", "price_cents", "status", "tags", mode="before"
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields the client sent (defaults are not validated).
        if value is None:
            raise ValueError("leave the field out to keep its value; it cannot be null")
        return value

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
    version: int = Field(description="Send it back in PATCH (or the ETag in If-Match).")
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
    min_price_cents: Count32 | None = None
    max_price_cents: Count32 | None = None
    sort: Sort = Field("-created_at", description="Sort key; a leading '-' is descending.")
    limit: int = Field(20, ge=1, le=100, description="Page size.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")

    def filters(self) -> dict[str, object]:
        """The filters and sort a cursor is bound to (not the page size)."""
        return self.model_dump(exclude={"limit", "cursor"}, exclude_none=True)
