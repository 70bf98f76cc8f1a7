"""Response shapes of the `about` feature, one per API version."""

from pydantic import BaseModel, Field


class AboutV1(BaseModel):
    """Version 1: a flat description of the running service."""

    name: str = Field(description="The service name.")
    version: str = Field(description="The release that is running.")


class Build(BaseModel):
    """The running release."""

    name: str = Field(description="The service name.")
    version: str = Field(description="The release that is running.")


class AboutV2(BaseModel):
    """Version 2: the release nested under `build`, plus the deployment environment."""

    build: Build
    environment: str = Field(description="development, test, staging or production.")
