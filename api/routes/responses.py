"""An OpenAI-compatible Responses API subset over runs: a response is a run, its id the run id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict

from api.deps import CurrentUser, DatabaseDep, UoW
from api.openai_errors import OpenAIError, OpenAIErrorRoute
from api.params import RunId
from api.routes.events import SSE_HEADERS
from api.routes.runs import cancel_run
from shared.errors import Conflict
from shared.events.hub import EventHub
from shared.responses import service
from shared.responses.objects import ResponseContext, response_object
from shared.responses.schemas import ResponseCreate
from shared.responses.stream import StreamTranslator, sse_frame
from shared.runs import service as runs_service
from shared.runs.schemas import RunCreate, RunOut
from shared.runs.waiting import wait_for_run

router = APIRouter(
    prefix="/v1/responses",
    tags=["responses (OpenAI-compatible)"],
    route_class=OpenAIErrorRoute,
)

# Like the compatibility chat endpoint: past this, the in-progress object answers.
WAIT_SECONDS = 60.0
MAX_SEQUENCE = 2**62

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": OpenAIError, "description": description}
    for code, description in {
        400: "Invalid or unsupported parameter",
        401: "Missing, malformed, expired or wrongly signed bearer token",
        404: "No such response (or another user's)",
        409: "Conflicts with the response's state",
        429: "Rate limit exceeded; see Retry-After",
        503: "A dependency is unavailable; see Retry-After",
    }.items()
}


class ResponseObject(BaseModel):
    """The Response object (documentation; the openai SDK's `Response` model reads it)."""

    model_config = ConfigDict(extra="allow")

    id: str
    object: Literal["response"]
    status: Literal["queued", "in_progress", "completed", "failed", "cancelled"]
    created_at: float
    model: str
    output: list[dict[str, Any]]
    error: dict[str, Any] | None
    usage: dict[str, Any] | None
    metadata: dict[str, Any]
    previous_response_id: str | None


class ResponseDeleted(BaseModel):
    id: str
    object: Literal["response"]
    deleted: Literal[True]


OBJECT_OR_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ResponseObject,
        "content": {"text/event-stream": {}},
        "description": "The Response; with `stream`, Server-Sent Events in the Responses format.",
    }
}
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
]


@router.post("", responses={**ERRORS, **OBJECT_OR_STREAM})
async def create_response(
    body: ResponseCreate,
    user: CurrentUser,
    uow: UoW,
    database: DatabaseDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Start a turn; `background` answers at once, `stream` streams, else waits up to 60 s."""
    service.agent_for(body.model)  # every model is the default agent until agents exist
    conversation_id = None
    if body.previous_response_id is not None:
        conversation_id = await service.conversation_of(
            uow.session, user, body.previous_response_id
        )
    run_body = RunCreate(
        message=body.message, conversation_id=conversation_id, metadata=body.metadata
    )
    run, replayed = await runs_service.submit(
        uow.session, uow.dispatcher, user, run_body, idempotency_key, request.app.state.limiter
    )
    previous = await service.previous_id(uow.session, run.conversation_id, run.id)
    await uow.commit()
    if body.stream:
        # The stream's objects are the ones a resume replays, so they say only what GET says.
        return _stream(request, run.id, ResponseContext(previous), after=-1)
    context = ResponseContext(previous, body.background)
    if body.background:
        current = RunOut.model_validate(run, from_attributes=True)
    else:
        current = await wait_for_run(database, request.app.state.events, user, run.id, WAIT_SECONDS)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(response_object(current, context), headers=headers)


@router.get("/{response_id}", responses={**ERRORS, **OBJECT_OR_STREAM})
async def get_response(
    response_id: RunId,
    user: CurrentUser,
    database: DatabaseDep,
    request: Request,
    stream: bool = False,
    starting_after: Annotated[int | None, Query(ge=0, le=MAX_SEQUENCE)] = None,
) -> Response:
    """The Response; with `stream=true`, its events after `starting_after` (resumable)."""
    async with database.sessions() as session:
        run = await service.get(session, user, response_id)
        context = ResponseContext(await service.previous_id(session, run.conversation_id, run.id))
        current = RunOut.model_validate(run, from_attributes=True)
    if stream:
        after = -1 if starting_after is None else starting_after
        return _stream(request, response_id, context, after=after)
    return JSONResponse(response_object(current, context))


@router.post("/{response_id}/cancel", responses={**ERRORS, 200: {"model": ResponseObject}})
async def cancel_response(
    response_id: RunId, user: CurrentUser, uow: UoW, database: DatabaseDep, request: Request
) -> Response:
    """Cancel a response: at once if queued, at its next step if in progress; 409 if it ended."""
    # Read in the request's own transaction: on SQLite a second session would wait for the
    # write lock this one holds until the request ends (a queued run is cancelled in it).
    run = await service.get(uow.session, user, response_id)
    previous = await service.previous_id(uow.session, run.conversation_id, run.id)
    try:
        cancelled = await cancel_run(response_id, user, uow, database, request)
    except Conflict as exc:
        state = exc.detail.removeprefix("run ")
        raise Conflict(f"Response {state}: only an unfinished response can be cancelled.") from None
    return JSONResponse(response_object(cancelled, ResponseContext(previous)))


@router.delete("/{response_id}", responses={**ERRORS, 200: {"model": ResponseDeleted}})
async def delete_response(response_id: RunId, user: CurrentUser, uow: UoW) -> Response:
    """Delete a finished response (its turn leaves the conversation); 409 while it runs."""
    await service.remove(uow.session, user, response_id)
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})


def _stream(request: Request, run_id: str, context: ResponseContext, after: int) -> Response:
    hub: EventHub = request.app.state.events
    ping = request.app.state.settings.event_ping_seconds
    return StreamingResponse(
        _frames(hub, run_id, context, after, ping),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


async def _frames(
    hub: EventHub, run_id: str, context: ResponseContext, after: int, ping: float
) -> AsyncIterator[bytes]:
    """The run's log from its first event, translated; only sequence numbers past `after` go out.

    Replaying from the start keeps the translation's state (which items are open, their
    indexes) the same however the stream is resumed.
    """
    translator = StreamTranslator(run_id, context)
    async for event in hub.follow(run_id, 0, ping):
        if event is None:
            yield b": ping\n\n"
            continue
        for item in translator.translate(event):
            if item["sequence_number"] > after:
                yield sse_frame(item)
