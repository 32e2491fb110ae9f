"""Runs: submit a chat turn, read it (long-poll), list, cancel (docs/api.md section 4)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, DatabaseDep, UoW
from api.errors import error_responses
from api.params import Cursor, Limit, RunId
from shared.runs import approvals, service, states
from shared.runs.schemas import BusyConversation, RunCreate, RunOut, ToolApprovals
from shared.runs.status import RunStatus
from shared.runs.waiting import wait_for_run
from shared.schemas import Page, SafeStr

router = APIRouter(prefix="/v1/runs", tags=["runs"])

CANCEL_WAIT = 3.0

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
]


@router.post(
    "",
    status_code=202,
    responses={
        200: {"model": RunOut, "description": "Idempotent replay of an earlier submit"},
        409: {"model": BusyConversation, "description": "Busy conversation or key reuse"},
        **error_responses(429),
    },
)
async def create_run(
    body: RunCreate,
    user: CurrentUser,
    uow: UoW,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Submit a chat turn; it runs in the background. Poll, stream or await its webhook."""
    run, replayed = await service.submit(
        uow.session, uow.dispatcher, user, body, idempotency_key, request.app.state.limiter
    )
    headers = {"Location": f"/v1/runs/{run.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    content = RunOut.model_validate(run, from_attributes=True).model_dump(mode="json")
    return JSONResponse(content, status_code=200 if replayed else 202, headers=headers)


@router.get("")
async def list_runs(
    user: CurrentUser,
    uow: UoW,
    conversation_id: Annotated[SafeStr | None, Query(min_length=1, max_length=40)] = None,
    status: RunStatus | None = None,
    limit: Limit = 20,
    after: Cursor = None,
) -> Page[RunOut]:
    """The caller's runs, newest first."""
    rows, has_more = await service.list_page(
        uow.session,
        user,
        conversation_id=conversation_id,
        status=status,
        limit=limit,
        after=after,
    )
    items = [RunOut.model_validate(r, from_attributes=True) for r in rows]
    return Page(data=items, has_more=has_more, next_cursor=items[-1].id if has_more else None)


@router.get("/{run_id}")
async def get_run(
    run_id: RunId,
    user: CurrentUser,
    database: DatabaseDep,
    request: Request,
    wait: Annotated[float, Query(ge=0, le=60)] = 0,
) -> RunOut:
    """A run; with `wait`, answers as soon as it is terminal or after `wait` seconds."""
    return await wait_for_run(database, request.app.state.events, user, run_id, wait)


@router.post("/{run_id}/cancel", responses=error_responses(409))
async def cancel_run(
    run_id: RunId, user: CurrentUser, uow: UoW, database: DatabaseDep, request: Request
) -> RunOut:
    """Cancel a run: at once if queued, at its next step if in progress; 409 if it ended."""
    run = await service.cancel(uow.session, uow.dispatcher, user, run_id)
    if run.status in states.TERMINAL:
        return RunOut.model_validate(run, from_attributes=True)
    # A running turn stops at the worker's next check (≤ ~1 s): answer with the final state
    # when it comes quickly, else with the run as it is (its status will follow).
    await uow.commit()
    return await wait_for_run(database, request.app.state.events, user, run_id, CANCEL_WAIT)


@router.post("/{run_id}/tool-approvals", responses=error_responses(409))
async def approve_tool_calls(
    run_id: RunId, body: ToolApprovals, user: CurrentUser, uow: UoW
) -> RunOut:
    """Approve or reject each tool call a requires_action run waits on; the run resumes."""
    run = await approvals.decide(uow.session, uow.dispatcher, user, run_id, body)
    return RunOut.model_validate(run, from_attributes=True)
