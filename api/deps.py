"""Dependencies every route shares: the unit of work and the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth import InvalidToken, user_from_token
from shared.config import Settings
from shared.db import Database
from shared.uow import UnitOfWork, unit_of_work


class Unauthorized(Exception):
    """Rendered as 401 with WWW-Authenticate: Bearer."""


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


_bearer = HTTPBearer(auto_error=False)


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The token's subject; anything short of a valid HS256 token with `exp` is a 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    try:
        return user_from_token(get_settings_dep(request), credentials.credentials)
    except InvalidToken as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc


UoW = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
CurrentUser = Annotated[str, Depends(current_user)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database)]

__all__ = ["CurrentUser", "DatabaseDep", "SettingsDep", "UoW", "UnitOfWork", "Unauthorized"]
