"""One place that turns domain, auth and dependency errors into JSON responses."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.routing import Match

from api.deps import Unauthorized
from shared.errors import DomainError

log = logging.getLogger(__name__)


class ErrorOut(BaseModel):
    """Every error body: `detail` is a message, or FastAPI's list of field errors for 422."""

    detail: str | list[dict[str, Any]]


ERROR_DESCRIPTIONS = {
    401: "Missing, malformed, expired or wrongly signed bearer token, or a revoked API key",
    403: "Authenticated, but not allowed: another user's id, or an API key without the scope",
    404: "Not found (or owned by another user)",
    409: "Conflicts with the current state",
    413: "Request body larger than 1 MiB",
    429: "Rate limit exceeded; see Retry-After",
    503: "A dependency is unavailable; see Retry-After",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    return {code: {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# An echoed `input` longer than this (as JSON) is cut: a 1 MB message must not come back whole.
MAX_ECHOED_INPUT = 200
SEND_JSON = "send a JSON object with the header Content-Type: application/json"

# What every authenticated route may answer besides its own statuses and 422 (403: an API key
# lacking the route's scope).
AUTHENTICATED = error_responses(401, 403, 404, 413, 503)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    detail: Any = exc.detail
    if exc.status_code == 422:
        # Same shape as FastAPI's own validation errors, so clients parse one format.
        loc = exc.extra.get("loc", ["body"])
        detail = [{"loc": loc, "msg": exc.detail, "type": "value_error"}]
        extra = {k: v for k, v in exc.extra.items() if k != "loc"}
    else:
        extra = exc.extra
    return JSONResponse(
        {"detail": detail, **extra}, status_code=exc.status_code, headers=exc.headers
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own errors, except that an undecodable body is a 422 like any bad JSON.

    FastAPI answers 400 when the body is not UTF-8, nests too deep or holds an integer too
    long to convert; that is the same client mistake as malformed JSON, so it gets the same 422.
    """
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, (ValueError, RecursionError)):
        error = {
            "type": "json_invalid",
            "loc": ["body"],
            "msg": "JSON decode error",
            "ctx": {"error": type(exc.__cause__).__name__},
        }
        return JSONResponse({"detail": [error]}, status_code=422)
    if exc.status_code == 405:
        # Starlette's Allow lists only the first route on the path; name every method.
        return JSONResponse(
            {"detail": "Method Not Allowed"},
            status_code=405,
            headers={"Allow": ", ".join(allowed_methods(request))},
        )
    return await http_exception_handler(request, exc)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this request's path.

    Asked of the router itself, method by method: FastAPI keeps included routers as opaque
    branches (no `path_regex`), so reading the route list directly found nothing.
    """
    methods: set[str] = set()
    for method in PROBED_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return sorted(methods)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with FastAPI's error list; echoed input is capped, and dropped if not valid JSON.

    FastAPI echoes each error's `input`, and the input may be exactly what made it invalid
    (NaN, an unpaired surrogate, deep nesting): rendering it would turn the 422 into a 500.
    """
    assert isinstance(exc, RequestValidationError)
    json_body = "json" in request.headers.get("content-type", "").lower()
    errors = [_renderable(error, json_body) for error in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


def _renderable(error: Any, json_body: bool) -> Any:
    if not json_body and tuple(error.get("loc", ())) == ("body",):
        # A form or text body reaches the model as a string: "valid dictionary" helps nobody.
        return {"type": error.get("type"), "loc": ["body"], "msg": SEND_JSON}
    try:
        encoded = jsonable_encoder(error)
        json.dumps(encoded, ensure_ascii=False, allow_nan=False).encode("utf-8")
        text = json.dumps(encoded.get("input"), ensure_ascii=False)
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return {k: v for k, v in error.items() if k in ("type", "loc", "msg")}
    if len(text) > MAX_ECHOED_INPUT:
        encoded["input"] = text[:MAX_ECHOED_INPUT] + "…"
        encoded["input_truncated"] = True
    return encoded


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
    # The SQLSTATE says which (deadlock 40P01, connection failure 08xxx …) without logging the
    # statement's parameters, which may hold user content.
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    log.warning(
        "database unavailable on %s: %s (sqlstate %s)",
        request.url.path,
        type(exc).__name__,
        sqlstate,
    )
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
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(PoolTimeout, _database_down)
    app.add_exception_handler(DBAPIError, _database_down)
    app.add_exception_handler(ConnectionError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
