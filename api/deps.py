"""Dependencies every route shares: the unit of work and the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.security import Principal, Unauthorized, authenticate
from shared.config import Settings
from shared.db import Database
from shared.dispatch import Dispatcher


@dataclass
class UnitOfWork:
    """One request's session and the jobs to send once it commits."""

    session: AsyncSession
    dispatcher: Dispatcher = field(default_factory=Dispatcher)

    async def commit(self) -> None:
        """Commit now (for routes that go on to wait), then publish what was buffered."""
        await self.session.commit()
        await self.dispatcher.flush()


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    """Commit at the request boundary, then (and only then) publish the buffered jobs.

    Function-scoped, so the commit happens before the response is sent: a client that reads
    the run it was just given always finds it.
    """
    database = get_database(request)
    async with database.sessions() as session:
        uow = UnitOfWork(session)
        try:
            yield uow
            await session.commit()
        except BaseException:
            await session.rollback()
            uow.dispatcher.discard()
            raise
    await uow.dispatcher.flush()


async def current_user(principal: Annotated[Principal, Depends(authenticate)]) -> str:
    """The caller's user id (a password sign-in, a JWT's `sub` or an API key's owner)."""
    return principal.user_id


UoW = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
CurrentUser = Annotated[str, Depends(current_user)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database)]

__all__ = ["CurrentUser", "DatabaseDep", "SettingsDep", "UoW", "Unauthorized"]
