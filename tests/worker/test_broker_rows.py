"""The embedded broker's delivered rows are pruned; pending messages are never touched."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from kombu.connection import Connection

from worker.broker_rows import prune_delivered


def test_delivered_rows_older_than_the_window_go_and_pending_ones_stay(tmp_path: Path) -> None:
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    with Connection(url) as conn:  # type: ignore[no-untyped-call]
        queue = conn.SimpleQueue("runs")
        for n in range(3):
            queue.put({"n": n})
        for _ in range(2):
            queue.get(timeout=5).ack()
        queue.close()

    db = sqlite3.connect(tmp_path / "broker.sqlite")
    assert db.execute("SELECT COUNT(*) FROM kombu_message WHERE visible = 0").fetchone() == (2,)
    assert prune_delivered(url) == 0  # delivered just now: kept for the window
    assert prune_delivered(url, keep=dt.timedelta(0)) == 2
    assert db.execute("SELECT COUNT(*) FROM kombu_message").fetchone() == (1,)
    db.close()

    with Connection(url) as conn:  # type: ignore[no-untyped-call]  # pending: still delivered
        queue = conn.SimpleQueue("runs")
        message = queue.get(timeout=5)
        assert message.payload == {"n": 2}
        message.ack()
        queue.close()


def test_other_brokers_are_left_alone() -> None:
    assert prune_delivered("redis://127.0.0.1:6379/0") == 0
    assert prune_delivered("amqp://guest:guest@127.0.0.1:5672//") == 0
