"""Webhook operations for the API: a user's secret (read, rotate) and a run's delivery log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import utcnow
from shared.dispatch import Dispatcher
from shared.runs import service as runs
from shared.webhooks import outbox
from shared.webhooks.models import WebhookDelivery, WebhookMessage, WebhookSecret
from shared.webhooks.signing import new_secret

# How long the secret replaced by a rotation keeps signing beside the new one.
ROTATION_OVERLAP = dt.timedelta(hours=24)
LOG_LIMIT = 100


async def get_or_create_secret(
    session: AsyncSession, user_id: str, *, lock: bool = False
) -> WebhookSecret:
    """The user's secret, created on first use (a concurrent first use is not an error)."""
    row = await session.get(WebhookSecret, user_id, with_for_update=lock or None)
    if row is not None:
        return row
    row = WebhookSecret(user_id=user_id, secret=new_secret())
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        existing = await session.get(
            WebhookSecret, user_id, populate_existing=True, with_for_update=lock or None
        )
        assert existing is not None
        return existing
    return row


async def rotate_secret(session: AsyncSession, user_id: str) -> WebhookSecret:
    """Replace the secret; the old one keeps signing alongside for ROTATION_OVERLAP."""
    row = await get_or_create_secret(session, user_id, lock=True)
    now = utcnow()
    row.previous_secret = row.secret
    row.previous_expires_at = now + ROTATION_OVERLAP
    row.secret = new_secret()
    row.rotated_at = now
    await session.flush()
    return row


def signing_keys(row: WebhookSecret, now: dt.datetime) -> list[str]:
    """The current secret, then the previous one while its overlap lasts."""
    keys = [row.secret]
    if (
        row.previous_secret is not None
        and row.previous_expires_at is not None
        and row.previous_expires_at > now
    ):
        keys.append(row.previous_secret)
    return keys


async def delivery_log(
    session: AsyncSession, user_id: str, run_id: str
) -> tuple[Sequence[WebhookDelivery], WebhookMessage | None]:
    """A run's ending webhook's latest attempts (oldest first) and its outbox row; someone
    else's run is a 404."""
    run = await runs.get(session, user_id, run_id)
    # The state first: under READ COMMITTED each statement sees newer commits, so attempts
    # read after a `delivered` state always include the attempt that delivered it.
    message = await outbox.for_run(session, run.id)
    if message is None:
        return [], None
    rows = (
        (
            await session.execute(
                select(WebhookDelivery)
                .where(WebhookDelivery.message_id == message.id)
                .order_by(WebhookDelivery.attempt.desc())
                .limit(LOG_LIMIT)
            )
        )
        .scalars()
        .all()
    )
    return list(reversed(rows)), message


async def redeliver(
    session: AsyncSession, dispatcher: Dispatcher, user_id: str, run_id: str
) -> WebhookMessage:
    """Send a run's webhook again, as a fresh round of attempts."""
    run = await runs.get(session, user_id, run_id)
    return await outbox.redeliver(session, dispatcher, run)
