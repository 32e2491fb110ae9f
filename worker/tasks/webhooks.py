"""Celery tasks of the webhooks domain: thin wrappers that hand coroutines to the process loop."""

from __future__ import annotations

from shared.celery_app import celery_app
from worker.runtime import runtime
from worker.webhooks.deliver import start_delivery
from worker.webhooks.sweep import sweep


@celery_app.task(name="webhooks.deliver", acks_late=True)  # type: ignore[untyped-decorator]
def deliver(message_id: str) -> bool:
    """Start one delivery on the loop and return; the outbox row, not this message, is durable."""
    rt = runtime()
    return rt.call(start_delivery(rt, message_id))


@celery_app.task(name="webhooks.sweep", acks_late=True)  # type: ignore[untyped-decorator]
def sweep_webhooks() -> int:
    """Send due deliveries whose message was lost or whose retry waited for beat."""
    rt = runtime()
    return rt.call(sweep(rt))
