"""Embedded broker housekeeping: kombu's SQLite transport never deletes delivered messages.

kombu's SQLAlchemy transport marks a fetched message `visible = false` (stamping its
`timestamp`) and keeps the row forever; with the sweepers every couple of seconds a `make run`
left alone grows the broker file by ~100,000 rows a day. A delivered row is dead once its task
was acknowledged: a worker that dies holding one re-publishes a fresh copy (kombu's
restore_unacked), so rows delivered over an hour ago can go.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3

log = logging.getLogger(__name__)

SQLITE_PREFIX = "sqla+sqlite:///"
KEEP_DELIVERED = dt.timedelta(hours=1)


def prune_delivered(broker_url: str, keep: dt.timedelta = KEEP_DELIVERED) -> int:
    """Delete the embedded broker's messages delivered longer than `keep` ago; 0 elsewhere."""
    if not broker_url.startswith(SQLITE_PREFIX):
        return 0  # Redis and RabbitMQ delete a message when it is acknowledged
    # kombu stamps with the naive local clock (datetime.now), stored as SQLAlchemy's text form.
    cutoff = str(dt.datetime.now() - keep)  # noqa: DTZ005 (kombu's own clock)
    path = broker_url.removeprefix(SQLITE_PREFIX)
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn, conn:
        deleted = conn.execute(
            "DELETE FROM kombu_message WHERE visible = 0 AND timestamp < ?", (cutoff,)
        ).rowcount
    if deleted:
        log.info("broker: deleted %d delivered message row(s)", deleted)
    return deleted
