"""One delivery attempt: claim the due message, sign it, POST it, record how it went."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from urllib.parse import urlsplit

from shared.db import utcnow
from shared.webhooks import outbox
from shared.webhooks import service as webhooks
from shared.webhooks.models import WebhookMessage
from shared.webhooks.signing import signed_headers
from worker import metrics
from worker.runtime import Runtime

log = logging.getLogger(__name__)

_rng = random.SystemRandom()


async def start_delivery(rt: Runtime, message_id: str) -> bool:
    """Accept a delivery into this process's backlog and return at once (on the loop)."""
    accepted = rt.webhooks.start(deliver(rt, message_id), name=f"webhook {message_id}")
    if not accepted:
        log.warning("webhook %s: backlog full; left for the sweeper", message_id)
    return accepted


async def deliver(rt: Runtime, message_id: str) -> str | None:
    """Make the next attempt if one is due; returns the message's status after it, or None."""
    token = uuid.uuid4().hex
    # Claim → record spans a wait for a slot (≤ half a run lease), the attempt (≤ the
    # timeout) and database waits; the lease covers them all, so only a dead worker's attempt
    # is ever taken over by the sweeper.
    slot_wait = rt.settings.run_lease_seconds / 2
    lease = rt.settings.webhook_timeout_seconds + rt.settings.run_lease_seconds
    async with rt.webhooks.lookup_slot():
        claimed, keys = await _claim(rt, message_id, token, lease)
    if claimed is None:
        log.info("webhook %s: nothing due (delivered, in flight, or not yet time)", message_id)
        return None
    host = _host_of(claimed.url)
    async with rt.webhooks.slot(host, slot_wait) as ready:
        if ready:
            headers = signed_headers(keys, claimed.id, claimed.payload, utcnow())
            result = await rt.webhooks.post(claimed.url, claimed.payload.encode(), headers)
            metrics.WEBHOOK_DELIVERIES.labels(result.outcome).inc()
            metrics.WEBHOOK_DURATION.observe(result.duration_ms / 1000)
    if not ready:
        # This host (or the process) is saturated: back to the outbox, not a queue in memory.
        async with rt.database.transaction() as session:
            await outbox.unclaim(session, claimed.id, token, slot_wait)
        log.info(
            "run %s: webhook %s: no slot for %s in time; retrying later",
            claimed.run_id,
            claimed.id,
            host,
        )
        return outbox.PENDING
    async with rt.database.transaction() as session:
        after = await outbox.record(
            session, claimed, token, result, rt.settings.retry_schedule, _rng
        )
    log.info(
        "run %s: webhook %s attempt %d to %s: %s %s (%d ms) -> %s%s",
        claimed.run_id,
        claimed.id,
        claimed.attempts,
        host,
        result.outcome,
        result.status_code if result.status_code is not None else "-",
        result.duration_ms,
        after.status,
        f", next in {after.delay:.1f} s" if after.delay is not None else "",
    )
    if after.countdown and after.delay is not None:
        await _send_later(claimed.id, after.delay)
    return after.status


async def _claim(
    rt: Runtime, message_id: str, token: str, lease: float
) -> tuple[WebhookMessage | None, list[str]]:
    """Claim a due message, with the keys to sign it with right now."""
    async with rt.database.transaction() as session:
        claimed = await outbox.claim(session, message_id, token, lease)
        if claimed is None:
            return None, []
        secret = await webhooks.get_or_create_secret(session, claimed.user_id)
        return claimed, webhooks.signing_keys(secret, utcnow())


async def _send_later(message_id: str, delay: float) -> None:
    """A short retry rides a countdown; if the broker is down the sweeper sends it instead."""
    from shared.celery_app import celery_app

    try:
        await asyncio.to_thread(
            celery_app.send_task, outbox.DELIVER_TASK, args=[message_id], countdown=delay
        )
    except Exception:
        log.warning("webhook %s: could not schedule the retry; the sweeper will", message_id)


def _host_of(url: str) -> str:
    """host:port, the unit of per-receiver concurrency."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{parts.port or ''}"
