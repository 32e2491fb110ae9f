"""The list endpoints' and event replay's queries on a big database: latency and plans.

Each probe calls the app's own query function (shared/*/service.py, shared/events/store.py) on
an AsyncSession, exactly as the route does, and times the call (ORM included). The statements
it issued are captured from the engine and replayed under EXPLAIN (ANALYZE, BUFFERS) for the
report, so the plans shown are those of the app's SQL with the app's parameters.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bench.stats import Summary, percentile
from shared.conversations import service as conversations
from shared.db import Database
from shared.events import store
from shared.runs import service as runs

PAGE = 20  # the list endpoints' default page size
MESSAGES_PAGE = 100  # the chat page asks for a conversation's last 100 messages
SAMPLES = 200

_PLAN_TIMES = re.compile(r"^(?:Planning|Execution) Time: ([0-9.]+) ms$", re.M)

Probe = Callable[[AsyncSession], Awaitable[object]]


@dataclass
class Measured:
    name: str
    what: str
    times_ms: list[float]
    statements: list[tuple[str, Any]]
    plans: list[str] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)  # planning + execution, per call

    @property
    def p50(self) -> float:
        return percentile(self.times_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.times_ms, 99)

    @property
    def server(self) -> Summary:
        return Summary.of(self.server_ms)


@dataclass(frozen=True)
class Subjects:
    """Who and what the probes read: the heaviest user, typical users, their cursors."""

    heavy: str
    heavy_runs: int
    typical: list[str]
    heavy_run_cursor: str  # a runs-list cursor half-way down the heavy user's history
    heavy_conversation_cursor: str
    conversations: list[tuple[str, str]]  # (user, conversation)
    runs: list[tuple[str, str]]  # (user, finished run)


def pick_subjects(engine: sa.Engine, rng: random.Random) -> Subjects:
    """Sampled once with plain SQL (not measured)."""
    with engine.connect() as conn:
        heavy, heavy_runs = conn.exec_driver_sql(
            "SELECT user_id, count(*) FROM runs GROUP BY user_id ORDER BY 2 DESC LIMIT 1"
        ).one()
        users = [u for (u,) in conn.exec_driver_sql("SELECT DISTINCT user_id FROM conversations")]
        run_cursor = conn.exec_driver_sql(
            "SELECT id FROM runs WHERE user_id = %(u)s ORDER BY id DESC OFFSET %(n)s LIMIT 1",
            {"u": heavy, "n": heavy_runs // 2},
        ).scalar_one()
        conversation_cursor = conn.exec_driver_sql(
            "SELECT id FROM conversations WHERE user_id = %(u)s ORDER BY id DESC "
            "OFFSET (SELECT count(*) / 2 FROM conversations WHERE user_id = %(u)s) LIMIT 1",
            {"u": heavy},
        ).scalar_one()
        # Random rows by a random id prefix (TABLESAMPLE keeps it cheap on millions of rows).
        sampled = list(
            conn.exec_driver_sql(
                "SELECT user_id, conversation_id, id FROM runs TABLESAMPLE SYSTEM (1) "
                "WHERE finished_at IS NOT NULL LIMIT %(n)s",
                {"n": SAMPLES * 5},
            )
        )
    rng.shuffle(sampled)
    return Subjects(
        heavy=str(heavy),
        heavy_runs=int(heavy_runs),
        typical=rng.sample(users, min(len(users), SAMPLES)),
        heavy_run_cursor=str(run_cursor),
        heavy_conversation_cursor=str(conversation_cursor),
        conversations=[(str(u), str(c)) for u, c, _ in sampled[:SAMPLES]],
        runs=[(str(u), str(r)) for u, _, r in sampled[:SAMPLES]],
    )


async def replay(session: AsyncSession, user: str, run_id: str, after: int) -> int:
    """What GET /v1/runs/{id}/events does for a finished run: check the owner, read after N."""
    await runs.get(session, user, run_id)
    return len(await store.read(session, run_id, after))


def probes(s: Subjects, rng: random.Random) -> list[tuple[str, str, Callable[[int], Probe]]]:
    """(name, what it reads, probe for sample i)."""
    heavy = f"the heaviest user ({s.heavy_runs:,} runs)"

    def runs_list(user: str, after: str | None) -> Probe:
        return lambda db: runs.list_page(
            db, user, conversation_id=None, status=None, limit=PAGE, after=after
        )

    return [
        (
            "runs list, first page",
            "`GET /v1/runs` for typical users",
            lambda i: runs_list(s.typical[i % len(s.typical)], None),
        ),
        ("runs list, first page (heavy)", heavy, lambda i: runs_list(s.heavy, None)),
        (
            "runs list, deep cursor (heavy)",
            f"{heavy}, `after=` half-way down",
            lambda i: runs_list(s.heavy, s.heavy_run_cursor),
        ),
        (
            "conversations list, first page",
            "`GET /v1/conversations` for typical users",
            lambda i: (
                lambda db: conversations.list_page(db, s.typical[i % len(s.typical)], PAGE, None)
            ),
        ),
        (
            "conversations list, deep cursor (heavy)",
            f"{heavy}, `after=` half-way down",
            lambda i: (
                lambda db: conversations.list_page(db, s.heavy, PAGE, s.heavy_conversation_cursor)
            ),
        ),
        (
            "messages page",
            "`GET /v1/conversations/{id}/messages?limit=100`, random conversations",
            lambda i: (
                lambda db: conversations.messages_page(
                    db, *s.conversations[i % len(s.conversations)], MESSAGES_PAGE, None
                )
            ),
        ),
        (
            "event replay after N",
            "`GET /v1/runs/{id}/events` with `Last-Event-ID: N`, random finished runs, N in 0..19",
            lambda i: lambda db: replay(db, *s.runs[i % len(s.runs)], rng.randrange(20)),
        ),
    ]


async def measure(database: Database, s: Subjects, rng: random.Random) -> list[Measured]:
    """Each probe SAMPLES times (after a few warm-up calls), then each call's statements again
    under EXPLAIN ANALYZE: the server's share of the time, and the plans of the first call."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        captured.append((statement, params))

    results = []
    for name, what, make in probes(s, rng):
        for i in range(5):
            async with database.sessions() as session:
                await make(i)(session)
        times, calls = [], []
        sa.event.listen(database.engine.sync_engine, "before_cursor_execute", capture)
        try:
            for i in range(SAMPLES):
                probe = make(i)
                async with database.sessions() as session:
                    started = time.perf_counter()
                    await probe(session)
                    times.append((time.perf_counter() - started) * 1000)
                calls.append(list(captured))
                captured.clear()
        finally:
            sa.event.remove(database.engine.sync_engine, "before_cursor_execute", capture)
        measured = Measured(name, what, times, calls[0])
        async with database.engine.connect() as conn:
            for n, statements in enumerate(calls):
                server = 0.0
                for statement, params in statements:
                    rows = await conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, params
                    )
                    plan = "\n".join(str(r[0]) for r in rows)
                    server += sum(float(ms) for ms in _PLAN_TIMES.findall(plan))
                    if n == 0:
                        measured.plans.append(plan)
                measured.server_ms.append(server)
        results.append(measured)
    return results
