"""The Markdown report: every Parley figure next to a baseline measured in the same run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.scenarios import INPROCESS, Burst, Sequential, Throughput
from bench.stats import Summary, percentile, ratio

TIER_TITLES = {
    "services": "PostgreSQL + Redis (a private redis-server)",
    "embedded": "SQLite + the SQLite broker (no servers)",
}


@dataclass(frozen=True)
class Sizes:
    """How much each figure measures."""

    turns: int
    warmup: int
    clients: int
    duration: float
    burst: int
    llm_seconds: float
    quick: bool = False


@dataclass
class TierResult:
    """Everything measured on one tier."""

    tier: str
    floor: list[float] = field(default_factory=list)
    inproc_seq: Sequential = field(default_factory=Sequential)
    parley_seq: Sequential = field(default_factory=Sequential)
    inproc_tp: Throughput | None = None
    parley_tp: Throughput | None = None
    inproc_burst: Burst | None = None
    parley_burst: Burst | None = None
    server_builds: list[float] = field(default_factory=list)  # build_todo_server (s)
    sessions: list[float] = field(default_factory=list)  # MCP Client open + close (s)


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def _mb(size: int) -> str:
    return f"{size / 2**20:.0f} MB"


def _x(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}×"


def render_tier(result: TierResult, sizes: Sizes) -> str:
    """The tier's section: the figures table, then where a turn's time goes."""
    floor = Summary.of(result.floor)
    inproc = Summary.of(result.inproc_seq.durations)
    parley = Summary.of(result.parley_seq.durations)
    added = parley.p50 - inproc.p50
    ideal = 2 * sizes.llm_seconds
    rows = [
        (
            f"Turn latency p50 (submit → terminal seen by long-poll; n={parley.n}, instant "
            "LLM, 2 model calls)",
            _ms(parley.p50),
            f"in-process agent loop p50 {_ms(inproc.p50)} (n={inproc.n})",
            _x(ratio(parley.p50, inproc.p50)),
        ),
        (
            "Turn latency p99",
            _ms(parley.p99),
            f"in-process agent loop p99 {_ms(inproc.p99)}",
            _x(ratio(parley.p99, inproc.p99)),
        ),
        (
            "Turn latency p50 vs Celery floor",
            _ms(parley.p50),
            f"no-op `delay().get()` p50 {_ms(floor.p50)} (n={floor.n})",
            _x(ratio(parley.p50, floor.p50)),
        ),
        (
            "Turn latency p99 vs Celery floor",
            _ms(parley.p99),
            f"no-op `delay().get()` p99 {_ms(floor.p99)}",
            _x(ratio(parley.p99, floor.p99)),
        ),
        (
            "Added latency p50 (Parley p50 − in-process p50)",
            _ms(added),
            f"Celery floor p50 {_ms(floor.p50)}",
            _x(ratio(added, floor.p50)),
        ),
    ]
    if result.parley_tp is not None and result.inproc_tp is not None:
        p, b = result.parley_tp, result.inproc_tp
        rows.append(
            (
                f"Throughput, {p.clients} concurrent clients for {sizes.duration:g} s "
                f"({p.completed} turns in {p.elapsed:.1f} s)",
                f"{p.per_second:.1f} turns/s",
                f"in-process, {b.clients} concurrent loops: {b.per_second:.1f} turns/s",
                _x(ratio(p.per_second, b.per_second)),
            )
        )
    if result.parley_burst is not None:
        pb = result.parley_burst
        rows.append(
            (
                f"Burst: {pb.turns} turns submitted at once to one worker, LLM "
                f"{sizes.llm_seconds:g} s per call; wall until all terminal",
                _s(pb.wall),
                f"ideal {_s(ideal)} (2 calls × {sizes.llm_seconds:g} s)",
                _x(ratio(pb.wall, ideal)),
            )
        )
        if result.inproc_burst is not None:
            ib = result.inproc_burst
            rows.append(
                (
                    "Burst wall vs in-process",
                    _s(pb.wall),
                    f"in-process, {ib.turns} turns at once: {_s(ib.wall)}",
                    _x(ratio(pb.wall, ib.wall)),
                )
            )
        rows.append(
            (
                "Worker peak RSS during the burst (VmRSS incl. children, every 100 ms, "
                f"{pb.rss_samples} samples)",
                _mb(pb.peak_rss),
                f"the same worker idle just before: {_mb(pb.idle_rss)}",
                _x(ratio(pb.peak_rss, pb.idle_rss)),
            )
        )
    lines = [
        f"## Tier `{result.tier}`: {TIER_TITLES.get(result.tier, result.tier)}",
        "",
        "| Figure | Parley | Baseline (measured in this run) | Ratio |",
        "|---|---:|---|---:|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        *_cpu(result),
        "",
        *_breakdown(result),
        "",
        *_setup_costs(result, inproc),
        "",
        *_health(result),
    ]
    return "\n".join(lines)


def _cpu_row(name: str, parley: dict[str, float], turns: int, inproc: float) -> str:
    api, worker = parley.get("api", math.nan), parley.get("worker", math.nan)
    total = api + worker
    cells = [_ms(v / turns) if turns else "n/a" for v in (api, worker, total, inproc)]
    return f"| {name} | {' | '.join(cells)} | {_x(ratio(total, inproc))} |"


def _cpu(result: TierResult) -> list[str]:
    """CPU time per completed turn: steadier than wall time on a shared machine."""
    lines = [
        "CPU time per completed turn (user + system, from /proc; in-process: this process):",
        "",
        "| Phase | Parley API | Parley worker | Parley API + worker | In-process | Ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    pseq, iseq = result.parley_seq, result.inproc_seq
    if pseq.durations and iseq.durations:
        per_inproc = iseq.cpu.get(INPROCESS, math.nan) / len(iseq.durations)
        lines.append(_cpu_row("sequential", pseq.cpu, len(pseq.durations), per_inproc))
    ptp, itp = result.parley_tp, result.inproc_tp
    if ptp is not None and itp is not None and ptp.completed and itp.completed:
        per_inproc = itp.cpu.get(INPROCESS, math.nan) / itp.completed
        lines.append(
            _cpu_row(f"{ptp.clients} concurrent clients", ptp.cpu, ptp.completed, per_inproc)
        )
    return lines if len(lines) > 4 else []


def _breakdown(result: TierResult) -> list[str]:
    """Where a sequential Parley turn's time goes, from the run's own timestamps."""
    samples = result.parley_seq.samples
    if not samples:
        return []
    phases = {
        "`POST /v1/runs` round trip (202)": [s.post for s in samples],
        "client send → run row built (HTTP, auth)": [
            s.server_time("created_at") - s.sent_at for s in samples
        ],
        "created → started (commit, publish, broker pickup, claim)": [
            s.server_time("started_at") - s.server_time("created_at") for s in samples
        ],
        "started → finished (agent loop, ledger, ending)": [
            s.server_time("finished_at") - s.server_time("started_at") for s in samples
        ],
        "finished → terminal seen by the long-poll (commit, notify, wake, re-read)": [
            s.seen_at - s.server_time("finished_at") for s in samples
        ],
    }
    lines = [
        "Where a sequential Parley turn's time goes (server timestamps, same machine clock):",
        "",
        "| Phase | p50 | p99 |",
        "|---|---:|---:|",
    ]
    for name, values in phases.items():
        lines.append(f"| {name} | {_ms(percentile(values, 50))} | {_ms(percentile(values, 99))} |")
    return lines


def _setup_costs(result: TierResult, inproc: Summary) -> list[str]:
    """Work the worker repeats for every turn that a long-lived process could do once."""
    if not result.server_builds:
        return []
    builds = Summary.of(result.server_builds)
    sessions = Summary.of(result.sessions)
    return [
        "Per-turn setup inside the worker (`worker/runs/execute.py` `_drive` builds the todo "
        "MCP server for every turn; the in-process baseline builds it once):",
        "",
        "| Step | p50 | p99 | p50 / in-process turn p50 |",
        "|---|---:|---:|---:|",
        f"| `build_todo_server(db)` (n={builds.n}) | {_ms(builds.p50)} | {_ms(builds.p99)} | "
        f"{_x(ratio(builds.p50, inproc.p50))} |",
        f"| MCP `Client(server)` open + close (n={sessions.n}) | {_ms(sessions.p50)} | "
        f"{_ms(sessions.p99)} | {_x(ratio(sessions.p50, inproc.p50))} |",
    ]


def _health(result: TierResult) -> list[str]:
    """Turns that did not complete as expected, so a fast but broken run cannot pass unseen."""
    seq = result.parley_seq
    notes = [
        f"Sequential Parley turns not completed as expected: {seq.failed} "
        f"(HTTP trouble ridden out or fatal: {seq.tally})."
    ]
    if result.parley_tp is not None:
        tp = result.parley_tp
        notes.append(f"Throughput turns not completed: {tp.failed} (HTTP trouble: {tp.tally}).")
    if result.parley_burst is not None:
        b = result.parley_burst
        notes.append(f"Burst HTTP trouble: {b.tally}.")
        if b.pg_peak is not None:
            database, server, limit = b.pg_peak
            notes.append(
                f"PostgreSQL connections during the burst: peak {database} to Parley's "
                f"database, {server} server-wide (other databases included), "
                f"max_connections {limit}."
            )
        notes.append(
            f"Burst: {b.completed}/{b.turns} completed; last `202` after "
            f"{_s(b.submit_phase)}; server span (first created → last finished) "
            f"{_s(b.server_span)}; per turn, created → started p50 "
            f"{_s(percentile(b.queue_waits, 50))} (max {_s(max(b.queue_waits, default=0))}), "
            f"started → finished p50 {_s(percentile(b.executions, 50))} "
            f"(max {_s(max(b.executions, default=0))})."
        )
    if result.inproc_burst is not None:
        ib = result.inproc_burst
        notes.append(f"In-process burst: {ib.completed}/{ib.turns} completed.")
    return [" ".join(notes)]


def render(results: list[TierResult], sizes: Sizes, header: list[str]) -> str:
    """The whole report: context lines, then one section per tier."""
    parts = ["# Parley benchmark (issue 2)", "", *header, ""]
    for result in results:
        parts.extend([render_tier(result, sizes), ""])
    return "\n".join(parts)
