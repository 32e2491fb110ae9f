"""ASGI middleware: request ids, security headers, header count and the 1 MiB body limit."""

from __future__ import annotations

import json
import logging
import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import logcontext

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# Browsers send about 20 headers in well under 8 KiB; 20,000 headers and an 8 MB header were
# accepted before these caps. uvicorn's fast parser (httptools, measured at about half the
# API's CPU when swapped for h11, which has a size option) has no limit of its own, so the
# app refuses such heads before any work is done; a proxy in front caps them earlier.
MAX_HEADERS = 100
MAX_HEADER_BYTES = 64 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class RequestContextMiddleware:
    """Echo or mint X-Request-ID and add security headers to every response.

    An exception nothing else handled is answered here as a JSON 500, so even that response
    carries the request id the log line names (Starlette's own 500 comes from outside every
    middleware, without our headers).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        # Every line logged while serving it, and the tasks it sends, name this request.
        logcontext.bind(request_id=request_id)
        is_page = scope["path"] == "/" or scope["path"].startswith("/static")

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if is_page:
                    headers["Content-Security-Policy"] = PAGE_CSP
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception(
                "unhandled error on %s %s (request %s)", scope["method"], scope["path"], request_id
            )
            if started:
                raise
            await _send_json(send_with_headers, 500, {"detail": "internal error"})


class HeaderLimitMiddleware:
    """Refuse requests with over MAX_HEADERS headers or MAX_HEADER_BYTES of them: 431."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_HEADERS, max_bytes: int = MAX_HEADER_BYTES
    ) -> None:
        self.app = app
        self.limit = limit
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            if len(headers) > self.limit:
                await _send_json(send, 431, {"detail": f"at most {self.limit} request headers"})
                return
            if sum(len(k) + len(v) for k, v in headers) > self.max_bytes:
                detail = f"request headers over {self.max_bytes // 1024} KiB"
                await _send_json(send, 431, {"detail": detail})
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse bodies over 1 MiB with 413, by Content-Length or while streaming in.

    Kept rather than FastAPI's `max_body_size` (Starlette's `RequestBodyLimitMiddleware`,
    checked with FastAPI 0.165 / Starlette 1.10), which does a different job: it counts bytes only
    as the endpoint reads them, so a route that never reads its body (POST .../cancel) runs to
    the end, side effects and all, and only then has its answer swapped for the 413; and a
    declared Content-Length over the limit is answered in plain text ("Content Too Large") from
    outside our middleware, without the JSON `detail` and the request-id and security headers
    every other error carries (and the signal exception it raises through our stack is logged
    here as an unhandled error). This one decides before the app runs.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _too_large(send)
            return
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            body = await _read_bounded(receive, self.limit)
            if body is None:
                await _too_large(send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)


async def _read_bounded(receive: Receive, limit: int) -> bytes | None:
    """Read a body of unknown length; None once it passes `limit`."""
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive callable that hands the buffered body to the app, then defers to the client."""
    done = False

    async def replay() -> Message:
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _too_large(send: Send) -> None:
    await _send_json(send, 413, {"detail": "request body larger than 1 MiB"})


async def _send_json(send: Send, status: int, content: dict[str, str]) -> None:
    body = json.dumps(content).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
