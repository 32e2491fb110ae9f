"""Celery tasks of the events domain: thin wrappers that hand coroutines to the process loop."""

from __future__ import annotations

from shared.celery_app import celery_app
from worker.broker_rows import prune_delivered
from worker.events.prune import prune_events
from worker.runtime import runtime


@celery_app.task(name="events.prune", acks_late=True)  # type: ignore[untyped-decorator]
def prune() -> int:
    """Delete run events older than EVENT_RETENTION_HOURS after their run ended, and the
    embedded broker's delivered message rows (retention of both logs on one beat schedule)."""
    rt = runtime()
    prune_delivered(rt.settings.broker_url)
    return rt.call(prune_events(rt))
