"""The webhook sweeper: sends due deliveries whose message was lost, shed, or never sent.

Long retry delays are not countdowns (a message unacked past Redis's visibility timeout is
redelivered, celery #5935); they wait here, in `next_attempt_at`, until beat runs this.
"""

from __future__ import annotations

import datetime as dt
import logging

from shared.uow import unit_of_work
from shared.webhooks import outbox, recovery
from worker.runtime import Runtime

log = logging.getLogger(__name__)

BATCH = 500


async def sweep(rt: Runtime) -> int:
    """Send every due, unclaimed delivery not sent recently; returns how many."""
    # A sent message not picked up within this long is presumed lost (same knob as runs).
    grace = dt.timedelta(seconds=rt.settings.run_redispatch_seconds)
    async with unit_of_work(rt.database) as uow:
        lost = await recovery.recover_lost(uow.session, rt.settings.retry_schedule, BATCH)
        ids = await recovery.due_for_dispatch(uow.session, grace, BATCH)
        for message_id in ids:
            uow.dispatcher.defer(outbox.DELIVER_TASK, message_id)
    if ids or lost:
        log.info("webhook sweep: %d attempts lost with their worker, %d sent", lost, len(ids))
    return len(ids)
