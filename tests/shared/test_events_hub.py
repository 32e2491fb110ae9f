"""EventHub in process (embedded mode, SQLite): replay, live tail, gaps, overflow, endings."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from shared.db import Database, utcnow
from shared.events import feeds as feeds_module
from shared.events import store
from shared.events.hub import EventHub
from shared.events.schemas import Event
from shared.runs.models import Run
from tests.factories import create_database, create_run, run_in_own_loop

Scenario = Callable[[Database, EventHub, str], Awaitable[None]]


def run_scenario(tmp_path: Path, scenario: Scenario) -> None:
    """A fresh database with one in-progress run, a started hub, and the scenario, in a thread
    of its own (another test's event loop, e.g. Playwright's, may be running in this one)."""

    async def main() -> None:
        db = await create_database(tmp_path, "hub.db")
        run_id = await create_run(db)
        hub = EventHub(db, None)
        hub.start()
        try:
            await asyncio.wait_for(scenario(db, hub, run_id), 30)
        finally:
            await hub.stop()
            await db.dispose()

    run_in_own_loop(main())


async def append(db: Database, run_id: str, *kinds: str) -> list[Event]:
    async with db.transaction() as session:
        return await store.append(session, run_id, [(kind, {"n": kind}) for kind in kinds])


async def end_run(db: Database, run_id: str, status: str = "completed") -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Run).where(Run.id == run_id).values(status=status, finished_at=utcnow())
        )
        await store.append(session, run_id, [(f"run.{status}", {"run": {"id": run_id}})])


async def collect(hub: EventHub, run_id: str, after: int = 0) -> list[Event]:
    return [e async for e in hub.follow(run_id, after, idle_seconds=5) if e is not None]


def test_replay_then_live_tail_until_the_end(tmp_path: Path) -> None:
    async def scenario(db: Database, hub: EventHub, run_id: str) -> None:
        await append(db, run_id, "run.queued", "run.in_progress")
        follower = asyncio.create_task(collect(hub, run_id))
        await asyncio.sleep(0.1)
        await append(db, run_id, "message.delta", "message.delta")
        await end_run(db, run_id)
        events = await follower
        assert [e.id for e in events] == [1, 2, 3, 4, 5]
        assert events[-1].type == "run.completed"
        assert hub.followed_runs == 0

    run_scenario(tmp_path, scenario)


def test_a_cancelled_follower_leaves_nothing_behind(tmp_path: Path) -> None:
    async def scenario(db: Database, hub: EventHub, run_id: str) -> None:
        await append(db, run_id, "run.queued")
        followers = [asyncio.create_task(collect(hub, run_id)) for _ in range(3)]
        await asyncio.sleep(0.1)
        assert hub.followed_runs == 1
        for follower in followers:
            follower.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        assert hub.followed_runs == 0

    run_scenario(tmp_path, scenario)


def test_a_gap_in_live_delivery_is_filled_from_the_database(tmp_path: Path) -> None:
    async def scenario(db: Database, hub: EventHub, run_id: str) -> None:
        await append(db, run_id, "run.queued")
        follower = asyncio.create_task(collect(hub, run_id))
        await asyncio.sleep(0.1)
        written = await append(db, run_id, "a", "b", "c")
        # As if pub/sub lost the first two: only the third reaches the feed.
        hub._feeds[run_id].deliver([written[-1]])
        await end_run(db, run_id)
        assert [e.id for e in await follower] == [1, 2, 3, 4, 5]

    run_scenario(tmp_path, scenario)


def test_a_follower_that_falls_behind_rereads_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feeds_module, "MAX_QUEUED_EVENTS", 5)

    async def scenario(db: Database, hub: EventHub, run_id: str) -> None:
        await append(db, run_id, "run.queued")
        follower = asyncio.create_task(collect(hub, run_id))
        await asyncio.sleep(0.1)
        await append(db, run_id, *["message.delta"] * 40)
        await end_run(db, run_id)
        assert [e.id for e in await follower] == list(range(1, 43))

    run_scenario(tmp_path, scenario)


def test_starting_past_the_end(tmp_path: Path) -> None:
    async def scenario(db: Database, hub: EventHub, run_id: str) -> None:
        await append(db, run_id, "run.queued", "run.in_progress")
        live = asyncio.create_task(collect(hub, run_id, after=99))
        await asyncio.sleep(0.1)
        await end_run(db, run_id)
        assert await live == []  # it stops with the run, sending nothing
        assert await collect(hub, run_id, after=3) == []
        assert [e.id for e in await collect(hub, run_id, after=2)] == [3]

    run_scenario(tmp_path, scenario)


def test_a_pruned_log_still_ends_with_the_runs_status(tmp_path: Path) -> None:
    async def scenario(db: Database, hub: EventHub, run_id: str) -> None:
        await append(db, run_id, "run.queued", "run.in_progress", "message.delta")
        await end_run(db, run_id, "failed")
        async with db.transaction() as session:
            cutoff = utcnow() + dt.timedelta(seconds=1)
            assert await store.prune(session, cutoff, 10) == 1
        events = await collect(hub, run_id)
        assert [(e.id, e.type) for e in events] == [(4, "run.failed")]
        assert events[0].data["run"]["id"] == run_id

    run_scenario(tmp_path, scenario)
