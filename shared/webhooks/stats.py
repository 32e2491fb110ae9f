"""Webhook delivery attempts counted by outcome, for /metrics."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.webhooks.outbox import OUTCOMES

log = logging.getLogger(__name__)

DELIVERIES_TABLE = "webhook_deliveries"
MAX_OUTCOMES = 32  # a bound on the label set, whatever the table holds


async def read_deliveries(conn: AsyncConnection) -> dict[str, int]:
    """Webhook attempts by their recorded `outcome`; zeros while that table does not exist.

    Every outcome the outbox records is listed (at 0) before its first attempt, so each series
    exists from the first scrape.
    """
    outcomes = dict.fromkeys(OUTCOMES, 0)

    def columns(sync_conn: Any) -> set[str]:
        inspector = inspect(sync_conn)
        if not inspector.has_table(DELIVERIES_TABLE):
            return set()
        return {c["name"] for c in inspector.get_columns(DELIVERIES_TABLE)}

    if "outcome" not in await conn.run_sync(columns):
        return outcomes
    query = text(
        f"SELECT outcome, COUNT(*) FROM {DELIVERIES_TABLE} GROUP BY outcome "
        f"ORDER BY outcome LIMIT {MAX_OUTCOMES}"
    )
    try:
        async with conn.begin_nested():
            for outcome, count in await conn.execute(query):
                outcomes[str(outcome)] = int(count)
    except SQLAlchemyError as exc:
        log.warning("metrics: cannot read %s: %s", DELIVERIES_TABLE, type(exc).__name__)
    return outcomes
