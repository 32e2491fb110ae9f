"""Dependencies every route shares: the unit of work and the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from api.security import Principal, Unauthorized, authenticate
from shared.config import Settings
from shared.db import Database
from shared.uow import UnitOfWork, unit_of_work


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work: it commits before the response is sent (function scope), so
    a client that reads the run it was just given always finds it."""
    async with unit_of_work(get_database(request)) as uow:
        yield uow


async def current_user(principal: Annotated[Principal, Depends(authenticate)]) -> str:
    """The caller's user id (a password sign-in, a JWT's `sub` or an API key's owner)."""
    return principal.user_id


UoW = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
CurrentUser = Annotated[str, Depends(current_user)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database)]

__all__ = ["CurrentUser", "DatabaseDep", "SettingsDep", "UoW", "UnitOfWork", "Unauthorized"]
