"""Run operations on the API side: submit, read, cancel. Services flush; the unit of work
commits, then sends the jobs they buffered."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.agents import service as agents
from shared.config import get_settings
from shared.conversations import service as conversations
from shared.db import utcnow
from shared.dispatch import Dispatcher
from shared.errors import Conflict, NotFound
from shared.events import store as events
from shared.events.schemas import RUN_QUEUED, run_data
from shared.pagination import fetch_page
from shared.ratelimit import RateLimiter
from shared.runs import pauses, states
from shared.runs.models import Run
from shared.runs.schemas import RunCreate
from shared.webhooks.urls import check_destination

IDEMPOTENCY_WINDOW = dt.timedelta(hours=24)


def request_fingerprint(body: RunCreate) -> str:
    """A stable hash of a submit body, to tell a retry from a different request under one key."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def find_idempotent(
    session: AsyncSession, user_id: str, key: str, body: RunCreate
) -> Run | None:
    """The run an earlier request with this key created (within 24 h), or None.

    A different body under the same key is a conflict; an expired key is released for reuse.
    """
    run = (
        await session.execute(select(Run).where(Run.user_id == user_id, Run.idempotency_key == key))
    ).scalar_one_or_none()
    if run is None:
        return None
    if run.created_at < utcnow() - IDEMPOTENCY_WINDOW:
        run.idempotency_key = None
        await session.flush()
        return None
    if run.request_hash != request_fingerprint(body):
        raise Conflict("Idempotency-Key was already used with a different request body")
    return run


async def submit(
    session: AsyncSession,
    dispatcher: Dispatcher,
    user_id: str,
    body: RunCreate,
    idempotency_key: str | None,
    limiter: RateLimiter | None = None,
) -> tuple[Run, bool]:
    """Create a queued run (and its conversation if needed); returns (run, replayed)."""
    if body.webhook_url is not None:
        # Before any query: the DNS lookup must not hold a transaction or a lock open.
        allow_private = get_settings().webhook_allow_private
        await check_destination(body.webhook_url, allow_private=allow_private)
    if idempotency_key is not None:
        await _serialize_on_key(session, user_id, idempotency_key)
        existing = await find_idempotent(session, user_id, idempotency_key, body)
        if existing is not None:
            return existing, True
    if limiter is not None:
        await limiter.check(session, user_id)
    # The version is fixed now: editing the agent later never changes this run.
    agent = await agents.get(session, user_id, body.agent_id) if body.agent_id else None

    active: Sequence[Run] = []
    if body.conversation_id is not None:
        conversation = await conversations.get(session, user_id, body.conversation_id, lock=True)
        active = await active_runs(session, conversation.id)
        if active and body.multitask_strategy == "reject":
            raise Conflict("conversation has an active run", active_run_id=active[0].id)
        if active and body.multitask_strategy == "interrupt":
            for run in active:
                await interrupt(session, dispatcher, run)
        conversations.touch(conversation)
    else:  # a new conversation has no earlier runs to look for
        conversation = await conversations.create(session, user_id, _title_from(body.message), None)
    # A run behind an unfinished one is dispatched when that one ends (states.dispatch_next).
    runs_now = not any(r.status in states.ACTIVE for r in active)
    run = Run(
        user_id=user_id,
        conversation_id=conversation.id,
        status=states.QUEUED,
        last_event_seq=1,  # its run.queued event, written below
        input={"message": body.message},
        meta=body.metadata or {},
        webhook_url=body.webhook_url,
        multitask_strategy=body.multitask_strategy,
        idempotency_key=idempotency_key,
        request_hash=request_fingerprint(body) if idempotency_key else None,
        dispatched_at=utcnow() if runs_now else None,
        agent_id=agent.id if agent is not None else None,
        agent_version=agent.version if agent is not None else None,
    )
    # No race on the key to handle here: _serialize_on_key made same-key submits take turns.
    session.add(run)
    await session.flush()
    await events.append(session, run.id, [(RUN_QUEUED, run_data(run))], last=1)
    if runs_now:
        dispatcher.defer(states.EXECUTE_TASK, run.id)
    return run, False


async def active_runs(session: AsyncSession, conversation_id: str) -> Sequence[Run]:
    """Unfinished runs of a conversation, oldest first."""
    rows = await session.execute(
        select(Run)
        .where(Run.conversation_id == conversation_id, Run.status.in_(states.ACTIVE))
        .order_by(Run.id)
    )
    return rows.scalars().all()


async def interrupt(session: AsyncSession, dispatcher: Dispatcher, run: Run) -> None:
    """Stop a run for a newer one: queued ones end now, a running one at its next step."""
    if run.status == states.QUEUED:
        await states.cancel_queued(session, dispatcher, run.id)
    elif run.status == pauses.REQUIRES_ACTION:
        await pauses.cancel_waiting(session, dispatcher, run.id)
    else:
        await states.request_cancel(session, run.id)
    await session.refresh(run)


async def get(session: AsyncSession, user_id: str, run_id: str) -> Run:
    run = (
        await session.execute(select(Run).where(Run.id == run_id, Run.user_id == user_id))
    ).scalar_one_or_none()
    if run is None:
        raise NotFound("run not found")
    return run


async def list_page(
    session: AsyncSession,
    user_id: str,
    *,
    conversation_id: str | None,
    status: str | None,
    limit: int,
    after: str | None,
) -> tuple[Sequence[Run], bool]:
    query = select(Run).where(Run.user_id == user_id)
    if conversation_id is not None:
        query = query.where(Run.conversation_id == conversation_id)
    if status is not None:
        query = query.where(Run.status == status)
    return await fetch_page(session, query, Run.id, limit=limit, after=after, newest_first=True)


async def cancel(session: AsyncSession, dispatcher: Dispatcher, user_id: str, run_id: str) -> Run:
    """Cancel a run: at once if queued, at the worker's next step if running."""
    run = await get(session, user_id, run_id)
    if run.status in states.TERMINAL:
        raise Conflict(f"run is already {run.status}")
    if run.status == pauses.REQUIRES_ACTION:
        ended = await pauses.cancel_waiting(session, dispatcher, run.id)
    elif run.status == states.QUEUED:
        ended = await states.cancel_queued(session, dispatcher, run.id)
    else:
        ended = None
    if ended is None:
        await states.request_cancel(session, run.id)
    await session.refresh(run)
    return run


async def _serialize_on_key(session: AsyncSession, user_id: str, key: str) -> None:
    """Make concurrent submits with one Idempotency-Key take turns (until commit).

    On PostgreSQL a transaction-scoped advisory lock on the (user, key) pair: the second
    request then finds the first one's committed run instead of racing it. SQLite's
    BEGIN IMMEDIATE already serialises writers.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"{user_id}\x00{key}".encode()).digest()
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:k)"),
        {"k": int.from_bytes(digest[:8], "big", signed=True)},
    )


def _title_from(message: str) -> str:
    first_line = message.strip().splitlines()[0] if message.strip() else "New conversation"
    return first_line[:60] + ("…" if len(first_line) > 60 else "")
