"""HTTP endpoints of the `about` feature, one router per API version."""

from fastapi import APIRouter

from ..kernel.dependencies import SettingsDep
from . import service
from .schemas import AboutV1, AboutV2

router_v1 = APIRouter(prefix="/about", tags=["about"])
router_v2 = APIRouter(prefix="/about", tags=["about"])


@router_v1.get("")
async def about_v1(settings: SettingsDep) -> AboutV1:
    """Describe the running service: its name and release."""
    return service.describe_v1(settings=settings)


@router_v2.get("")
async def about_v2(settings: SettingsDep) -> AboutV2:
    """Describe the running service: its build and the environment it runs in."""
    return service.describe_v2(settings=settings)
