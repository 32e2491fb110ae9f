"""One place that turns domain, auth and dependency errors into JSON responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api.deps import Unauthorized
from shared.errors import DomainError

log = logging.getLogger(__name__)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse(
        {"detail": exc.detail, **exc.extra}, status_code=exc.status_code, headers=exc.headers
    )


async def _unauthorized(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc) or "not authenticated"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    if (
        isinstance(exc, DBAPIError)
        and not exc.connection_invalidated
        and not isinstance(exc, OperationalError)
    ):
        return await _unexpected(request, exc)
    log.warning("database unavailable on %s: %s", request.url.path, type(exc).__name__)
    return JSONResponse(
        {"detail": "database unavailable, retry shortly"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(PoolTimeout, _database_down)
    app.add_exception_handler(DBAPIError, _database_down)
    app.add_exception_handler(ConnectionError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
