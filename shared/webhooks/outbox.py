"""The webhook outbox's state machine: enqueue with the run's ending, claim, record, re-send.

A message is `pending` until an attempt succeeds (`delivered`) or the round gives up
(`failed`). Attempts claim the row with a compare-and-set lease, so a duplicate task, the
sweeper and a redeliver never send the same message twice at once.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import rowcount, utcnow
from shared.dispatch import Dispatcher
from shared.errors import Conflict
from shared.runs.models import Run
from shared.runs.schemas import RunOut
from shared.runs.status import TERMINAL, RunStatus
from shared.webhooks.models import WebhookDelivery, WebhookMessage
from shared.webhooks.schemas import RunEventData, WebhookEvent

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
DELIVER_TASK = "webhooks.deliver"
REQUIRES_ACTION = "run.requires_action"  # the one event type sent before a run ends

# Outcomes of one attempt (the `outcome` column, and the label /metrics counts by).
OK = "delivered"
GONE = "gone"
HTTP_ERROR = "http_error"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
REFUSED = "refused"
WORKER_LOST = "worker_lost"
OUTCOMES = (OK, GONE, HTTP_ERROR, TIMEOUT, CONNECTION_ERROR, REFUSED, WORKER_LOST)
# 410 Gone and a destination that now resolves inside are final: retrying cannot help.
FINAL_FAILURES = frozenset({GONE, REFUSED})

# Retries at most this far out ride a countdown; later ones wait for the beat sweeper, because
# an unacked ETA message older than Redis's visibility timeout is redelivered (celery #5935).
COUNTDOWN_MAX_SECONDS = 60.0
# A task may run a moment before its countdown's due time; don't turn it away for that.
EARLY_SLACK = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class AttemptResult:
    """What one POST came to."""

    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class AfterAttempt:
    """The message's state after an attempt, and whether this worker should re-send it soon."""

    status: str
    delay: float | None
    countdown: bool


def event_for(run: Run) -> WebhookEvent:
    """The body a run's webhook carries: `run.<status>` and the Run as it is now."""
    return WebhookEvent(
        type=f"run.{run.status}",
        timestamp=run.finished_at or utcnow(),
        data=RunEventData(run=RunOut.model_validate(run, from_attributes=True)),
    )


async def for_run(session: AsyncSession, run_id: str) -> WebhookMessage | None:
    """The run's ending webhook (not its requires_action ones), if it has ended."""
    return (
        await session.execute(
            select(WebhookMessage).where(
                WebhookMessage.run_id == run_id, WebhookMessage.event_type != REQUIRES_ACTION
            )
        )
    ).scalar_one_or_none()


async def enqueue(session: AsyncSession, dispatcher: Dispatcher, run: Run) -> WebhookMessage | None:
    """Record the event owed for a run that just ended or started waiting for a person (same
    transaction); send after commit. The status machine calls it once per such change."""
    if not run.webhook_url:
        return None
    if run.status in TERMINAL:
        existing = await for_run(session, run.id)
        if existing is not None:
            return existing
    elif run.status != RunStatus.REQUIRES_ACTION:
        return None
    now = utcnow()
    message = WebhookMessage(
        run_id=run.id,
        user_id=run.user_id,
        url=run.webhook_url,
        event_type=f"run.{run.status}",
        payload=event_for(run).model_dump_json(),
        status=PENDING,
        next_attempt_at=now,
        dispatched_at=now,
    )
    session.add(message)
    await session.flush()
    dispatcher.defer(DELIVER_TASK, message.id)
    return message


async def claim(
    session: AsyncSession, message_id: str, token: str, lease_seconds: float
) -> WebhookMessage | None:
    """Take the next attempt of a due message; None if it is not due or someone else has it."""
    now = utcnow()
    statement = (
        update(WebhookMessage)
        .where(
            WebhookMessage.id == message_id,
            WebhookMessage.status == PENDING,
            WebhookMessage.next_attempt_at <= now + EARLY_SLACK,
            WebhookMessage.lease_token.is_(None),
        )
        .values(
            lease_token=token,
            lease_until=now + dt.timedelta(seconds=lease_seconds),
            attempts=WebhookMessage.attempts + 1,
            round_attempts=WebhookMessage.round_attempts + 1,
            dispatched_at=None,
        )
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if session.get_bind().dialect.update_returning:  # one round trip (PostgreSQL, SQLite 3.35+)
        claimed: WebhookMessage | None = (
            await session.execute(statement.returning(WebhookMessage))
        ).scalar_one_or_none()
        return claimed
    if rowcount(await session.execute(statement)) != 1:
        return None
    return await session.get(WebhookMessage, message_id, populate_existing=True)


async def unclaim(session: AsyncSession, message_id: str, token: str, delay: float) -> bool:
    """Give a claim back unused (no slot came in time): not an attempt; due again in `delay`."""
    due_at = utcnow() + dt.timedelta(seconds=delay)
    result = await session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id == message_id, WebhookMessage.lease_token == token)
        .values(
            lease_token=None,
            lease_until=None,
            attempts=WebhookMessage.attempts - 1,
            round_attempts=WebhookMessage.round_attempts - 1,
            next_attempt_at=due_at,
            dispatched_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def plan(
    result: AttemptResult, round_attempts: int, schedule: Sequence[float], rng: random.Random
) -> tuple[str, float | None]:
    """(status, delay before the next attempt): backoff from the schedule with full jitter.

    Full jitter (a uniform draw up to the scheduled delay) spreads the retries of many
    deliveries that failed together, so a receiver coming back is not hit by all at once.
    """
    if result.outcome == OK:
        return DELIVERED, None
    if result.outcome in FINAL_FAILURES or round_attempts > len(schedule):
        return FAILED, None
    return PENDING, rng.uniform(0, schedule[round_attempts - 1])


async def record(
    session: AsyncSession,
    message: WebhookMessage,
    token: str,
    result: AttemptResult,
    schedule: Sequence[float],
    rng: random.Random,
) -> AfterAttempt:
    """Log the attempt and move the message on, if this worker still holds it."""
    status, delay = plan(result, message.round_attempts, schedule, rng)
    now = utcnow()
    values: dict[str, Any] = {"status": status, "lease_token": None, "lease_until": None}
    countdown = delay is not None and delay <= COUNTDOWN_MAX_SECONDS
    if delay is not None:
        next_at = now + dt.timedelta(seconds=delay)
        # A countdown send counts as dispatched for its due time; the sweeper covers the rest.
        values.update(next_attempt_at=next_at, dispatched_at=next_at if countdown else None)
    else:
        values.update(next_attempt_at=None, finished_at=now)
    updated = await session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id == message.id, WebhookMessage.lease_token == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    owned = rowcount(updated) == 1
    # Not owned: the lease lapsed and the sweeper already logged this attempt as lost (and
    # retried it), or the run was deleted meanwhile with its log. Either way, nothing to add.
    if owned:
        session.add(
            WebhookDelivery(
                message_id=message.id,
                run_id=message.run_id,
                attempt=message.attempts,
                outcome=result.outcome,
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
            )
        )
    return AfterAttempt(status, delay, countdown and owned)


async def redeliver(session: AsyncSession, dispatcher: Dispatcher, run: Run) -> WebhookMessage:
    """Start a fresh round of attempts for an ended run's webhook (same webhook-id)."""
    if run.status not in TERMINAL:
        raise Conflict("run has not ended yet; its webhook is sent when it does")
    if not run.webhook_url:
        raise Conflict("run has no webhook_url, so there is nothing to redeliver")
    message = await for_run(session, run.id)
    if message is None:  # ended before it had an outbox row (e.g. before webhooks existed)
        created = await enqueue(session, dispatcher, run)
        assert created is not None
        return created
    now = utcnow()
    result = await session.execute(
        update(WebhookMessage)
        .where(
            WebhookMessage.id == message.id,
            or_(WebhookMessage.lease_until.is_(None), WebhookMessage.lease_until < now),
        )
        .values(
            status=PENDING,
            round_attempts=0,
            next_attempt_at=now,
            dispatched_at=now,
            lease_token=None,
            lease_until=None,
            finished_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise Conflict("a delivery attempt is in flight; redeliver once it has finished")
    dispatcher.defer(DELIVER_TASK, message.id)
    refreshed = await session.get(WebhookMessage, message.id, populate_existing=True)
    assert refreshed is not None
    return refreshed
