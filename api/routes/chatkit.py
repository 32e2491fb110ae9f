"""ChatKit front ends talk to Parley here: POST /chatkit is the protocol, GET /chatkit a page.

Requests the SDK cannot parse, and refusals (another user's thread, unsupported features),
answer with the protocol's error: an `error` event, in the stream for streaming requests and
as a JSON body with a 4xx status for the others (its `detail` is Parley's usual field).
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from typing import Annotated, Any

from chatkit.errors import ErrorCode
from chatkit.server import NonStreamingResult, StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import (
    ChatKitReq,
    ErrorEvent,
    StreamingReq,
    UserMessageInput,
    is_streaming_req,
)
from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import TypeAdapter, ValidationError

from api.deps import CurrentUser
from api.routes.events import SSE_HEADERS
from shared.chatkit.server import ParleyChatKitServer
from shared.chatkit.store import ChatContext, Unsupported
from shared.config import Settings
from shared.errors import DomainError

router = APIRouter(prefix="/chatkit", tags=["chatkit"])
page_router = APIRouter(prefix="/chatkit", tags=["chatkit"])

SERVER = ParleyChatKitServer()
REQUESTS: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)
# What a client's request can cause; anything else is ours and goes to the usual handlers.
REFUSALS = (DomainError, NotFoundError, ValidationError, NotImplementedError, ValueError)
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
]
PROTOCOL: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/json": {}, "text/event-stream": {}},
        "description": "JSON for reads and edits; Server-Sent Events of ChatKit events for turns.",
    },
    400: {"description": "A request the protocol does not allow: an `error` event as JSON"},
    404: {"description": "No such thread or item (or another user's): an `error` event as JSON"},
}


@router.post("", responses=PROTOCOL)
async def chatkit(
    request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> Response:
    """The ChatKit server protocol (threads.*, items.*); each user message is a Parley run."""
    state = request.app.state
    context = ChatContext(user, state.db, state.events, state.limiter, idempotency_key)
    body = await request.body()
    parsed: ChatKitReq | None = None
    try:
        parsed = REQUESTS.validate_json(body)
        if is_streaming_req(parsed):
            await _check_turn(parsed, context)
        result = await SERVER.process(body, context)
    except REFUSALS as exc:
        status, message = _refusal(exc)
        if parsed is not None and is_streaming_req(parsed):
            return _error_stream(message)
        return JSONResponse(_error(message) | {"detail": message}, status_code=status)
    if isinstance(result, StreamingResult):
        return StreamingResponse(
            _guarded(result), media_type="text/event-stream", headers=SSE_HEADERS
        )
    assert isinstance(result, NonStreamingResult)
    return Response(result.json, media_type="application/json")


async def _check_turn(request: StreamingReq, context: ChatContext) -> None:
    """Refuse up front what the SDK would refuse only once streaming (logging it as its own
    error): another user's or a missing thread, and attachments."""
    thread_id = getattr(request.params, "thread_id", None)
    if thread_id is not None:
        await SERVER.store.load_thread(thread_id, context)
    given = getattr(request.params, "input", None)
    if isinstance(given, UserMessageInput) and given.attachments:
        raise Unsupported("attachments are not supported")


def _error_stream(message: str) -> StreamingResponse:
    """A streaming request refused: its stream is the protocol's one error event."""
    frame = _frame(ErrorEvent.model_validate(_error(message)))
    return StreamingResponse(iter([frame]), media_type="text/event-stream", headers=SSE_HEADERS)


async def _guarded(result: StreamingResult) -> AsyncIterator[bytes]:
    """The SDK's stream, with a refusal met mid-way (e.g. an unknown item) as an error event."""
    try:
        async for chunk in result:
            yield chunk
    except REFUSALS as exc:
        yield _frame(ErrorEvent.model_validate(_error(_refusal(exc)[1])))
    except Exception:  # already logged by the SDK; the client may try again
        yield _frame(ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=True))


def _frame(event: ErrorEvent) -> bytes:
    return b"data: " + event.model_dump_json(exclude_none=True).encode() + b"\n\n"


def _refusal(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, DomainError):
        return exc.status_code, exc.detail
    if isinstance(exc, NotFoundError):
        return 404, "not found"
    if isinstance(exc, ValidationError):
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        return 400, f"not a ChatKit request ({reasons})"
    return 400, f"not supported here: {exc}"


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "code": "custom", "message": message, "allow_retry": False}


@page_router.get(
    "",
    response_class=HTMLResponse,
    responses={200: {"description": "An HTML page (no sign-in needed to load it)."}},
)
async def chatkit_page(request: Request) -> HTMLResponse:
    """A page mounting ChatKit.js against this server (CHATKIT_JS_URL), or how to set it up."""
    settings: Settings = request.app.state.settings
    origin = settings.chatkit_js_origin
    sources = f"'self' {origin}" if origin else "'self'"
    csp = (
        f"default-src 'self'; script-src {sources}; style-src {sources}; "
        f"img-src 'self' data: {origin or ''}; connect-src {sources}; frame-src {sources}; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    headers = {"Content-Security-Policy": csp, "Cache-Control": "no-cache"}
    return HTMLResponse(_page(settings), headers=headers)


def _page(settings: Settings) -> str:
    if settings.chatkit_js_url is None:
        body = (
            "<h1>ChatKit is not configured</h1>"
            "<p>Set <code>CHATKIT_JS_URL</code> to the ChatKit.js script OpenAI serves "
            "(<code>https://cdn.platform.openai.com/deployments/chatkit/chatkit.js</code>) and, "
            "outside localhost, <code>CHATKIT_DOMAIN_KEY</code> to the key of this domain in "
            "OpenAI's domain allowlist; then restart the API. See docs/chatkit.md.</p>"
            '<p><a href="/">Parley\'s own chat page</a> works without it.</p>'
        )
        scripts = ""
    else:
        body = (
            '<p id="chatkit-signin" hidden>Sign in on <a href="/">the chat page</a> first: '
            "this page uses the same sign-in.</p>"
            '<div id="chatkit-root" data-api-url="/chatkit" '
            f'data-domain-key="{html.escape(settings.chatkit_domain_key)}"></div>'
        )
        scripts = (
            f'<script src="{html.escape(settings.chatkit_js_url)}" async></script>'
            '<script src="/static/chatkit-page.js" defer></script>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>Parley · ChatKit</title><link rel="stylesheet" href="/static/chatkit-page.css">'
        f"{scripts}</head><body>{body}</body></html>"
    )
