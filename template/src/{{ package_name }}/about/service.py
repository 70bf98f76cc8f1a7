"""Logic of the `about` feature: endpoints stay thin and call these functions."""

from ..kernel.settings import Settings
from .schemas import AboutV1, AboutV2, Build


def describe_v1(*, settings: Settings) -> AboutV1:
    return AboutV1(name=settings.service_name, version=settings.service_version)


def describe_v2(*, settings: Settings) -> AboutV2:
    build = Build(name=settings.service_name, version=settings.service_version)
    return AboutV2(build=build, environment=settings.environment)
