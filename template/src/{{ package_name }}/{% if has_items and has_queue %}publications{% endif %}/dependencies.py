"""Named dependencies of the `publications` feature."""

from typing import Annotated

from fastapi import Depends

from ..core.db import SessionDep
from .repository import PublicationRepository


def _publications(session: SessionDep) -> PublicationRepository:
    return PublicationRepository(session)


PublicationRepositoryDep = Annotated[PublicationRepository, Depends(_publications)]
