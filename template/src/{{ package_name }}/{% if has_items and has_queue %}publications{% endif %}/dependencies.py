"""Named dependencies of the `publications` feature."""

from typing import Annotated

from fastapi import Depends

from ..integrations.db import SessionDep
from .repository import PublicationRepository


async def _publications(session: SessionDep) -> PublicationRepository:
    return PublicationRepository(session)


PublicationRepositoryDep = Annotated[PublicationRepository, Depends(_publications)]
