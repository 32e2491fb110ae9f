"""`python -m bench.retention`: retention at scale (issue 14). A fresh PostgreSQL database gets
1M runs and 20M events (at `--scale 1`), then the list endpoints' and event replay's queries are
timed with their plans, and a day of events is pruned while writers append events.

The database is created and dropped by the benchmark. The results go to
bench/results/retention.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from bench import retention_prune
from bench.retention_fill import EVENTS_PER_RUN, Shape, fill, migrate, table_sizes
from bench.retention_queries import SAMPLES, Measured, Subjects, measure, pick_subjects
from bench.stats import Summary
from shared.db import Database, sync_url
from tests.stack import ROOT, create_postgres_database, drop_postgres_database

log = logging.getLogger("bench.retention")

RESULTS = ROOT / "bench" / "results" / "retention.md"
TARGET_MS = 20.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.retention", description=__doc__)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1 = 1M runs and 20M events (the default)"
    )
    parser.add_argument("--days", type=int, default=10, help="days the history spans")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the report")
    parser.add_argument("--seed", type=int, default=14, help="seed of the sampled subjects")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 10 or args.days < 2:
        parser.error("--scale must be in (0, 10] and --days at least 2")
    return args


def render(
    lines: list[str],
    sizes: list[tuple[str, int, str, str]],
    subjects: Subjects,
    measured: list[Measured],
    outcome: retention_prune.Outcome,
) -> str:
    out = ["# Retention at scale: list and replay latency, pruning under writes", "", *lines, ""]
    out += ["| table | rows | table size | index size |", "|---|---:|---:|---:|"]
    out += [f"| `{name}` | {rows:,} | {heap} | {index} |" for name, rows, heap, index in sizes]
    worst, worst_server = max(m.p99 for m in measured), max(m.server.p99 for m in measured)
    verdict = (
        "Every p99 is under it."
        if worst < TARGET_MS
        else f"PostgreSQL's p99 is {'under' if worst_server < TARGET_MS else 'over'} it; the "
        f"calls' p99 reaches {worst:.1f} ms on this machine (load in the header)."
    )
    out += [
        "",
        "## List endpoints and event replay",
        "",
        f"Each query is the app's own function called {SAMPLES} times on an AsyncSession, timed "
        "from the call to its rows as objects (ORM, driver and this loaded machine's scheduling "
        "included). Each call's statements were then run again under EXPLAIN ANALYZE: "
        "*server* is PostgreSQL's planning + execution time for the call. The heaviest user has "
        f"{subjects.heavy_runs:,} runs. Target: under {TARGET_MS:g} ms. {verdict}",
        "",
        "| query | what | p50 | p99 | server p50 | server p99 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    out += [
        f"| {m.name} | {m.what} | {m.p50:.2f} ms | {m.p99:.2f} ms | {m.server.p50:.2f} ms "
        f"| {m.server.p99:.2f} ms |"
        for m in measured
    ]
    out += ["", "### Plans (EXPLAIN (ANALYZE, BUFFERS) of the statements the app issued)", ""]
    for m in measured:
        out += [f"**{m.name}**", ""]
        for (statement, params), plan in zip(m.statements, m.plans, strict=True):
            sql = " ".join(statement.split())
            out += ["```sql", f"{sql}\n-- parameters: {params}", "```", "```", plan, "```", ""]
    p = outcome.pruned
    events = p.runs * EVENTS_PER_RUN
    tx = Summary.of(p.transactions_ms)
    out += [
        "## Pruning a day's events while writers write",
        "",
        "`worker/events/prune.py`'s `prune_events` (batches of 200 runs, one transaction each, "
        "up to 50 batches a call: one beat tick) called until nothing was left, in a process of "
        "its own, with the retention set so that exactly the oldest day's finished runs are "
        "past it. After each call it pauses as long as the call took, so writes beside a prune "
        "call and writes alone alternate through the run. Meanwhile "
        f"{retention_prune.WRITERS} writers each append {retention_prune.DELTAS_PER_WRITE} "
        f"deltas every {retention_prune.PACE_SECONDS * 1000:g} ms to a run in progress through "
        "`store.append` under the run's lease, exactly as a worker's delta writer does "
        f"(and alone for {retention_prune.BASELINE_SECONDS:g} s before and after).",
        "",
        f"- Pruned: {p.runs:,} runs, {events:,} events in {len(p.calls)} calls taking "
        f"{p.seconds:.1f} s ({p.runs / p.seconds:,.0f} runs/s, {events / p.seconds:,.0f} "
        "events/s while pruning).",
        f"- Prune transactions ({tx.n}): p50 {tx.p50:.0f} ms, p99 {tx.p99:.0f} ms, "
        f"longest {max(p.transactions_ms, default=math.nan):.0f} ms: the longest any lock of "
        "the pruner is held.",
        "",
        "| writers' transactions | writes | p50 | p99 |",
        "|---|---:|---:|---:|",
        f"| alone (no prune call running) | {outcome.quiet.n:,} | {outcome.quiet.p50:.2f} ms "
        f"| {outcome.quiet.p99:.2f} ms |",
        f"| beside a prune call | {outcome.during.n:,} | {outcome.during.p50:.2f} ms "
        f"| {outcome.during.p99:.2f} ms |",
        "",
        f"Writers' p99 beside a prune call / alone: **{outcome.ratio:.2f}×** "
        f"(p50: {outcome.during.p50 / outcome.quiet.p50:.2f}×).",
    ]
    return "\n".join(out) + "\n"


def header(
    shape: Shape, scale: float, fill_seconds: float, load: tuple[float, ...], version: str
) -> list[str]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return [
        f"- {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit `{commit or '?'}`, "
        f"`--scale {scale:g}`{'' if scale == 1 else ' (the full size is --scale 1)'}; "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; PostgreSQL {version} with this machine's defaults.",
        f"- History: {shape.runs:,} runs ({shape.events:,} events, {shape.runs * 2:,} messages) "
        f"in {shape.conversations:,} conversations of {shape.users:,} users over {shape.days} "
        "days; a user's share of conversations is skewed (the first users have far more).",
        f"- Filled server-side (INSERT ... SELECT generate_series, app schema by `alembic "
        f"upgrade head`) in {fill_seconds:.0f} s, then VACUUM (ANALYZE) as autovacuum would.",
    ]


def check_pruned(engine: sa.Engine, pruned: int, first_day_ends: float) -> str:
    """The pruning took exactly the first day's runs' events, and all of them."""
    with engine.connect() as conn:
        marked, left, missed = conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM runs WHERE events_pruned_at IS NOT NULL), "
            "(SELECT count(*) FROM run_events WHERE run_id IN "
            " (SELECT id FROM runs WHERE events_pruned_at IS NOT NULL)), "
            "(SELECT count(*) FROM runs WHERE events_pruned_at IS NULL "
            " AND finished_at < to_timestamp(%(t)s))",
            {"t": first_day_ends},
        ).one()
    assert (marked, left, missed) == (pruned, 0, 0), (marked, left, missed, pruned)
    return (
        f"- Checked after the pruning: {pruned:,} runs marked pruned, none of their events "
        "left, no run of the first day missed."
    )


async def _measure_queries(url: str, subjects: Subjects, seed: int) -> list[Measured]:
    database = Database(url, pool_size=2)
    try:
        return await measure(database, subjects, random.Random(seed))
    finally:
        await database.dispose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    load = os.getloadavg()
    shape = Shape.at(args.scale, args.days, int(time.time() * 1000))
    url = create_postgres_database()
    engine = sa.create_engine(sync_url(url), pool_size=2, max_overflow=2)
    try:
        log.info("retention: %s in %s", shape, sa.engine.make_url(url).database)
        migrate(url)
        fill_seconds = fill(engine, shape, log.info)
        sizes = table_sizes(engine)
        with engine.connect() as conn:
            version = str(conn.exec_driver_sql("SHOW server_version").scalar_one())
        subjects = pick_subjects(engine, random.Random(args.seed))
        log.info("retention: timing the queries")
        measured = asyncio.run(_measure_queries(url, subjects, args.seed))
        # Retention so that exactly the first day's runs (ended within it) are past the cutoff.
        first_day_ends = shape.start_ms / 1000 + 86_400
        hours = (time.time() - first_day_ends) / 3600
        log.info("retention: pruning the first day (retention %.2f h) under writes", hours)
        outcome = asyncio.run(retention_prune.measure(url, hours))
        lines = header(shape, args.scale, fill_seconds, load, version)
        lines.append(check_pruned(engine, outcome.pruned.runs, first_day_ends))
        text = render(lines, sizes, subjects, measured, outcome)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(text)
        return 0
    finally:
        engine.dispose()
        drop_postgres_database(url)


if __name__ == "__main__":
    raise SystemExit(main())
