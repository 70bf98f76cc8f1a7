"""Named dependencies shared by every feature, and the `Location` of what they create."""

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from .requests import request_path
from .settings import Settings


async def _settings(request: Request) -> Settings:
    # The settings create_app() was given, not a fresh read of the environment.
    settings: Settings = request.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


# The header of a 201 (the new resource) or a 202 (where to follow the work), for `responses=`.
LOCATION = {
    "Location": {
        "description": "The URL of the resource, relative to the request's.",
        "schema": {"type": "string"},
    }
}


def location(request: Request, *segments: str) -> str:
    """The path the client called with `segments` added: `/v1/items` + `42` -> `/v1/items/42`.

    The client's own path (header versioning's unversioned one, under any `root_path`), so the
    URL works the way the client already calls the service.
    """
    base = request_path(request.scope).rstrip("/")
    return "/".join([base, *(quote(segment, safe="") for segment in segments)])
