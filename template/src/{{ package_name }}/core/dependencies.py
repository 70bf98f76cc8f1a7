"""Named dependencies shared by every feature."""

from typing import Annotated

from fastapi import Depends, Request

from .settings import Settings


def _settings(request: Request) -> Settings:
    # The settings create_app() was given, not a fresh read of the environment.
    settings: Settings = request.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]
