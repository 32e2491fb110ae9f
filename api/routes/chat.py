"""The original synchronous chat API, kept for existing frontends (docs/api.md section 8)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import CurrentUser, DatabaseDep, UoW
from api.errors import error_responses
from shared.errors import Forbidden
from shared.runs import service, states
from shared.runs.schemas import RunCreate, RunOut
from shared.runs.waiting import wait_for_run
from shared.schemas import NonBlankStr, RequestModel

router = APIRouter(prefix="/api", tags=["chat (compatibility)"])

CHAT_WAIT_SECONDS = 60.0


class LegacyToolCall(BaseModel):
    tool_name: str
    parameters: dict[str, object]
    result: object


class ChatReply(BaseModel):
    conversation_id: str
    response: str
    tool_calls: list[LegacyToolCall]


class ChatPending(BaseModel):
    run_id: str
    status: str


class ChatFailed(BaseModel):
    detail: str
    code: str
    run_id: str


class ChatRequest(RequestModel):
    message: NonBlankStr = Field(min_length=1, max_length=32000)
    conversation_id: str | None = Field(None, min_length=1, max_length=40)


@router.post(
    "/{user_id}/chat",
    response_model=ChatReply,
    responses={
        200: {"model": ChatReply, "description": "The assistant's reply"},
        202: {"model": ChatPending, "description": "Still running after 60 s: poll the run"},
        502: {"model": ChatFailed, "description": "The run failed (e.g. the model is down)"},
        **error_responses(403, 409, 429),
    },
)
async def chat(
    user_id: str,
    body: ChatRequest,
    user: CurrentUser,
    uow: UoW,
    database: DatabaseDep,
    request: Request,
) -> ChatReply | JSONResponse:
    """Send a message and wait for the reply (up to 60 s, then 202 with the run to poll)."""
    if user_id != user:
        raise Forbidden("user_id does not match the token")
    run_body = RunCreate(message=body.message, conversation_id=body.conversation_id)
    submitted, _ = await service.submit(
        uow.session, uow.dispatcher, user, run_body, None, request.app.state.limiter
    )
    await uow.commit()
    run = await wait_for_run(
        database, request.app.state.events, user, submitted.id, CHAT_WAIT_SECONDS
    )
    if run.status not in states.TERMINAL:
        pending = ChatPending(run_id=run.id, status=run.status)
        return JSONResponse(
            pending.model_dump(), status_code=202, headers={"Location": f"/v1/runs/{run.id}"}
        )
    if run.status != states.COMPLETED:
        code, message = (
            (run.error.code, run.error.message)
            if run.error is not None
            else (str(run.status), f"run {run.status}")
        )
        failed = ChatFailed(detail=message, code=code, run_id=run.id)
        return JSONResponse(
            failed.model_dump(), status_code=502 if run.status == states.FAILED else 409
        )
    return ChatReply(
        conversation_id=run.conversation_id,
        response=run.output.response if run.output is not None else "",
        tool_calls=_legacy_tool_calls(run),
    )


def _legacy_tool_calls(run: RunOut) -> list[LegacyToolCall]:
    """Tool calls in the original chat API's shape."""
    calls = run.output.tool_calls if run.output is not None else []
    return [
        LegacyToolCall(tool_name=c.tool_name, parameters=c.arguments, result=c.result)
        for c in calls
    ]
