"""The beat sweeper's outbox queries: attempts whose worker died, and sends that were lost.

Kept apart from the per-message state machine in `outbox`: these read many rows at once and
run only from the sweeper.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import utcnow
from shared.webhooks.models import WebhookDelivery, WebhookMessage
from shared.webhooks.outbox import FAILED, PENDING, WORKER_LOST


async def recover_lost(session: AsyncSession, schedule: Sequence[float], limit: int) -> int:
    """Log attempts whose worker died (lease lapsed) and make their retry due now."""
    now = utcnow()
    lost = (
        (
            await session.execute(
                select(WebhookMessage)
                .where(
                    WebhookMessage.status == PENDING,
                    WebhookMessage.lease_token.is_not(None),
                    WebhookMessage.lease_until < now,
                )
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    for message in lost:
        session.add(
            WebhookDelivery(
                message_id=message.id,
                run_id=message.run_id,
                attempt=message.attempts,
                outcome=WORKER_LOST,
                error="the worker making this attempt was lost before it finished",
                duration_ms=0,
            )
        )
        message.lease_token = None
        message.lease_until = None
        if message.round_attempts > len(schedule):
            message.status = FAILED
            message.next_attempt_at = None
            message.finished_at = now
        else:
            message.next_attempt_at = now
            message.dispatched_at = None
    await session.flush()
    return len(lost)


async def due_for_dispatch(session: AsyncSession, grace: dt.timedelta, limit: int) -> list[str]:
    """Due messages whose send was lost, shed or never made; marks them dispatched now."""
    now = utcnow()
    ids = list(
        (
            await session.execute(
                select(WebhookMessage.id)
                .where(
                    WebhookMessage.status == PENDING,
                    WebhookMessage.next_attempt_at <= now,
                    WebhookMessage.lease_token.is_(None),
                    or_(
                        WebhookMessage.dispatched_at.is_(None),
                        WebhookMessage.dispatched_at < now - grace,
                    ),
                )
                .order_by(WebhookMessage.next_attempt_at)
                .limit(limit)
            )
        ).scalars()
    )
    if ids:
        await session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.id.in_(ids))
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids
