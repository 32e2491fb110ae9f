"""Errors in OpenAI's shape on the OpenAI-compatible routes, so its SDK raises its own types.

The app's handlers (api/errors.py) still decide status, headers and logging; this route class
only re-renders their `{"detail"}` body as `{"error": {message, type, param, code}}`, and a
validation error as 400 (OpenAI's status for a bad parameter, the SDK's BadRequestError).
Other routes keep their shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", None),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    503: ("server_error", "service_unavailable"),
}


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIError(BaseModel):
    """The error body of the OpenAI-compatible routes."""

    error: OpenAIErrorBody


class OpenAIErrorRoute(APIRoute):
    """An APIRoute whose errors (auth, validation, domain, database) read like OpenAI's."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                app_handler = _handler_for(request, exc)
                if app_handler is None:
                    raise
                return openai_error(await app_handler(request, exc))

        return handle


def openai_error(response: Response) -> Response:
    """The app's error response, re-rendered with the same status and headers."""
    try:
        body = json.loads(bytes(response.body))
    except ValueError:
        return response
    status = response.status_code
    detail = body.get("detail") if isinstance(body, dict) else None
    param = body.get("param") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI's field errors: the first one names the parameter
        first = detail[0] if detail and isinstance(detail[0], dict) else {}
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        param = _param(first.get("loc", []))
        status = 400 if status == 422 else status
    else:
        message = str(detail or "error")
    kind, code = ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    headers = {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in ("content-length", "content-type")
    }
    error = {"message": message, "type": kind, "param": param, "code": code}
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _param(loc: Any) -> str | None:
    """`["body", "input", 0]` → `input[0]`: the location as a client names it."""
    places = ("body", "query", "path", "header")
    parts = list(loc[1:]) if isinstance(loc, list) and loc[:1] and loc[0] in places else []
    if not parts or not isinstance(parts[0], str):
        return None  # the body as a whole (e.g. invalid JSON at some offset)
    name = parts[0]
    for part in parts[1:]:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


def _handler_for(
    request: Request, exc: Exception
) -> Callable[[Request, Exception], Coroutine[Any, Any, Response]] | None:
    """The app's handler for this exception, by the nearest class (as Starlette picks it)."""
    handlers: dict[Any, Any] = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            handler: Callable[[Request, Exception], Coroutine[Any, Any, Response]] = handlers[cls]
            return handler
    return None
