"""RunEmitter in process: deltas are batched, ordered before other events, and lease-guarded."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select, update

from shared.db import Database
from shared.events import store
from shared.events.models import RunEvent
from shared.runs.models import Run
from tests.factories import create_database, create_run, run_in_own_loop
from worker.runs.emitter import FLUSH_DELTAS, RunEmitter

TOKEN = "lease-token"


async def fresh_database(path: Path) -> Database:
    return await create_database(path, "events.db")


async def new_run(database: Database) -> str:
    return await create_run(database, lease_token=TOKEN)


async def stored(database: Database, run_id: str) -> list[tuple[int, str, str]]:
    async with database.sessions() as session:
        rows = await session.execute(
            select(RunEvent.seq, RunEvent.type, RunEvent.data)
            .where(RunEvent.run_id == run_id)
            .order_by(RunEvent.seq)
        )
        return [(seq, kind, data.get("delta", "")) for seq, kind, data in rows]


def test_many_deltas_cost_few_writes(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await fresh_database(tmp_path)
        run_id = await new_run(db)
        emitter = RunEmitter(db, run_id, TOKEN)
        emitter.start()
        for i in range(500):
            await emitter.delta(f"t{i} ")
            if i % 5 == 0:
                await asyncio.sleep(0.002)  # a token stream, not one burst
        await emitter.close()
        events = await stored(db, run_id)
        assert [seq for seq, _, _ in events] == list(range(1, 501))
        assert "".join(text for _, _, text in events) == "".join(f"t{i} " for i in range(500))
        # 500 deltas over a fraction of a second: batches, not one write per token.
        assert emitter.writes <= 500 // FLUSH_DELTAS + 15, emitter.writes
        await db.dispose()

    run_in_own_loop(scenario())


def test_drain_orders_deltas_before_the_next_event(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await fresh_database(tmp_path)
        run_id = await new_run(db)
        emitter = RunEmitter(db, run_id, TOKEN)
        emitter.start()
        for word in ("one ", "two ", "three"):
            await emitter.delta(word)
        await emitter.drain()
        async with db.transaction() as session:
            await store.append(session, run_id, [("tool_call.started", {"tool_call": {}})])
        await emitter.delta("after")
        await emitter.close()
        kinds = [(seq, kind) for seq, kind, _ in await stored(db, run_id)]
        assert kinds[-2:] == [(4, "tool_call.started"), (5, "message.delta")]
        assert [k for _, k in kinds[:3]] == ["message.delta"] * 3
        await db.dispose()

    run_in_own_loop(scenario())


def test_a_worker_that_lost_its_lease_stops_emitting(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await fresh_database(tmp_path)
        run_id = await new_run(db)
        emitter = RunEmitter(db, run_id, TOKEN)
        emitter.start()
        await emitter.delta("mine")
        await emitter.drain()
        async with db.transaction() as session:
            await session.execute(update(Run).where(Run.id == run_id).values(lease_token="other"))
        await emitter.delta("not mine")
        await emitter.close()
        assert [text for _, _, text in await stored(db, run_id)] == ["mine"]
        await db.dispose()

    run_in_own_loop(scenario())
