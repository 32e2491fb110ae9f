"""A run's events as Server-Sent Events, resumable after any id (docs/api.md section 5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import CurrentUser, DatabaseDep
from shared.errors import Unprocessable
from shared.events.hub import EventHub
from shared.runs import service as runs_service
from shared.schemas import SafeStr

router = APIRouter(prefix="/v1/runs", tags=["events"])

MAX_EVENT_ID = 2**31 - 1
RETRY_MS = 1000
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get(
    "/{run_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The event stream."}},
)
async def stream_run_events(
    run_id: Annotated[SafeStr, Path(min_length=1, max_length=64)],
    user: CurrentUser,
    database: DatabaseDep,
    request: Request,
    after: Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
) -> StreamingResponse:
    """Stream a run's events; `Last-Event-ID` or `after=N` resumes after event N."""
    start = max(after or 0, _event_id(last_event_id))
    async with database.sessions() as session:
        await runs_service.get(session, user, run_id)
    hub: EventHub = request.app.state.events
    ping = request.app.state.settings.event_ping_seconds
    frames = request.app.state.draining.until_draining(_frames(hub, run_id, start, ping))
    return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS)


async def _frames(hub: EventHub, run_id: str, after: int, ping: float) -> AsyncIterator[bytes]:
    """SSE frames until the run's terminal event; a comment keeps an idle stream open.

    When the client goes, Starlette cancels this generator: nothing is left behind and the run
    goes on.
    """
    yield f"retry: {RETRY_MS}\n\n".encode()
    async for event in hub.follow(run_id, after, ping):
        yield b": ping\n\n" if event is None else event.sse()


def _event_id(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return 0
    value = raw.strip()
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_EVENT_ID:
        raise Unprocessable("Last-Event-ID must be an event id (a non-negative integer)")
    return int(value)
