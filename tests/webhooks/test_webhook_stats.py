"""Webhook delivery counts for /metrics, read straight from a bare database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.webhooks.outbox import OUTCOMES
from shared.webhooks.stats import read_deliveries


def test_delivery_figures_tolerate_a_missing_table_and_count_by_outcome(tmp_path: Path) -> None:
    """Read straight from a bare database: no table gives zeros, rows are grouped by outcome."""

    async def read(create: list[str]) -> dict[str, int]:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
        try:
            async with engine.begin() as conn:
                for statement in create:
                    await conn.execute(text(statement))
            async with engine.connect() as conn, conn.begin():
                return await read_deliveries(conn)
        finally:
            await engine.dispose()

    empty = asyncio.run(read([]))
    assert list(empty) == list(OUTCOMES)  # every outcome the outbox records, in its order
    assert set(empty.values()) == {0}
    counted = asyncio.run(
        read(
            [
                "CREATE TABLE webhook_deliveries (id INTEGER PRIMARY KEY, outcome TEXT)",
                "INSERT INTO webhook_deliveries (outcome) VALUES "
                "('delivered'), ('delivered'), ('timeout'), ('http_error')",
            ]
        )
    )
    assert counted["delivered"] == 2 and counted["timeout"] == 1 and counted["http_error"] == 1
    assert counted["gone"] == 0
