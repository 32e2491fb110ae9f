"""The Markdown report: every Parley figure next to a baseline measured in the same run."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import sqlphases
from bench.client import TurnSample
from bench.scenarios import INPROCESS, Burst, Sequential, Throughput, Turns
from bench.stats import Summary, percentile, ratio

MAX_COMPLAINTS = 12
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
    complaints: Counter[str] = field(default_factory=Counter)  # WARNING/ERROR log lines
    parley_tp2: Throughput | None = None  # the same load with a second worker process
    sql: list[dict[str, Any]] = field(default_factory=list)  # one turn's transactions


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def _s(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds:.2f} s"


def _mb(size: int) -> str:
    return f"{size / 2**20:.0f} MB"


def _x(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}×"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell and a code span."""
    return text.replace("`", "'").replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: int = 1) -> list[str]:
    """A Markdown table; columns from index `right` on are right-aligned."""
    align = ["---" if i < right else "---:" for i in range(len(header))]
    return [
        f"| {' | '.join(header)} |",
        f"| {' | '.join(align)} |",
        *(f"| {' | '.join(row)} |" for row in rows),
    ]


def render_tier(result: TierResult, sizes: Sizes) -> str:
    """The tier's section: the figures, CPU per turn, where a turn's time goes, health."""
    lines = [
        f"## Tier `{result.tier}`: {TIER_TITLES.get(result.tier, result.tier)}",
        "",
        *_figures(result, sizes),
        "",
        *_cpu(result),
        "",
        *sqlphases.render(result.sql),
        "",
        *_phases(result),
        "",
        *_setup_costs(result),
        "",
        *_health(result),
    ]
    return "\n".join(lines)


def _figures(result: TierResult, sizes: Sizes) -> list[str]:
    """The headline table: issue 2's figures against their same-run baselines."""
    floor = Summary.of(result.floor)
    inproc = Summary.of(result.inproc_seq.durations)
    parley = Summary.of(result.parley_seq.durations)
    added = parley.p50 - inproc.p50
    rows = [
        [
            f"Turn latency p50 (submit → terminal seen by long-poll; n={parley.n}, instant "
            "LLM, 2 model calls)",
            _ms(parley.p50),
            f"in-process agent loop p50 {_ms(inproc.p50)} (n={inproc.n})",
            _x(ratio(parley.p50, inproc.p50)),
        ],
        [
            "Turn latency p99",
            _ms(parley.p99),
            f"in-process agent loop p99 {_ms(inproc.p99)}",
            _x(ratio(parley.p99, inproc.p99)),
        ],
        [
            "Turn latency p50 vs Celery floor",
            _ms(parley.p50),
            f"no-op `delay().get()` p50 {_ms(floor.p50)} (n={floor.n})",
            _x(ratio(parley.p50, floor.p50)),
        ],
        [
            "Turn latency p99 vs Celery floor",
            _ms(parley.p99),
            f"no-op `delay().get()` p99 {_ms(floor.p99)}",
            _x(ratio(parley.p99, floor.p99)),
        ],
        [
            "Added latency p50 (Parley p50 − in-process p50)",
            _ms(added),
            f"Celery floor p50 {_ms(floor.p50)}",
            _x(ratio(added, floor.p50)),
        ],
    ]
    if result.parley_tp is not None and result.inproc_tp is not None:
        p, b = result.parley_tp, result.inproc_tp
        rows.append(
            [
                f"Throughput, {p.clients} concurrent clients for {sizes.duration:g} s "
                f"({p.completed} turns in {p.elapsed:.1f} s)",
                f"{p.per_second:.1f} turns/s",
                f"in-process, {b.clients} concurrent loops: {b.per_second:.1f} turns/s",
                _x(ratio(p.per_second, b.per_second)),
            ]
        )
    if result.parley_tp2 is not None and result.parley_tp is not None:
        p1, p2 = result.parley_tp, result.parley_tp2
        rows.append(
            [
                f"Throughput with 2 worker processes, {p2.clients} clients "
                f"({p2.completed} turns in {p2.elapsed:.1f} s)",
                f"{p2.per_second:.1f} turns/s",
                f"1 worker process (above): {p1.per_second:.1f} turns/s",
                _x(ratio(p2.per_second, p1.per_second)),
            ]
        )
    if result.parley_burst is not None:
        pb = result.parley_burst
        ideal = 2 * sizes.llm_seconds
        rows.append(
            [
                f"Burst: {pb.size} turns submitted at once to one worker, LLM "
                f"{sizes.llm_seconds:g} s per call; wall until all terminal "
                f"({pb.completed}/{pb.size} completed)",
                _s(pb.wall),
                f"ideal {_s(ideal)} (2 calls × {sizes.llm_seconds:g} s)",
                _x(ratio(pb.wall, ideal)),
            ]
        )
        if result.inproc_burst is not None:
            ib = result.inproc_burst
            rows.append(
                [
                    "Burst wall vs in-process",
                    _s(pb.wall),
                    f"in-process, {ib.size} turns at once: {_s(ib.wall)} "
                    f"({ib.completed}/{ib.size} completed)",
                    _x(ratio(pb.wall, ib.wall)),
                ]
            )
        rows.append(
            [
                "Worker peak RSS during the burst (VmRSS incl. children, every 100 ms, "
                f"{pb.rss_samples} samples)",
                _mb(pb.peak_rss),
                f"the same worker idle just before: {_mb(pb.idle_rss)}",
                _x(ratio(pb.peak_rss, pb.idle_rss)),
            ]
        )
    header = ["Figure", "Parley", "Baseline (measured in this run)", "Ratio"]
    lines = _table(header, rows)
    lines[1] = "|---|---:|---|---:|"
    return lines


def _cpu_row(
    name: str, parley: dict[str, float], parley_turns: int, inproc: float, inproc_turns: int
) -> list[str]:
    """Per-turn CPU: Parley's API, worker and both, the in-process baseline, and the ratio."""
    api = parley.get("api", math.nan) / parley_turns if parley_turns else math.nan
    worker = parley.get("worker", math.nan) / parley_turns if parley_turns else math.nan
    baseline = inproc / inproc_turns if inproc_turns else math.nan
    cells = [_ms(v) for v in (api, worker, api + worker, baseline)]
    return [name, *cells, _x(ratio(api + worker, baseline))]


def _cpu(result: TierResult) -> list[str]:
    """CPU time per completed turn: steadier than wall time on a shared machine."""
    rows = []
    pseq, iseq = result.parley_seq, result.inproc_seq
    if pseq.durations and iseq.durations:
        inproc = iseq.cpu.get(INPROCESS, math.nan)
        rows.append(
            _cpu_row("sequential", pseq.cpu, len(pseq.durations), inproc, len(iseq.durations))
        )
    ptp, itp = result.parley_tp, result.inproc_tp
    if ptp is not None and itp is not None:
        inproc = itp.cpu.get(INPROCESS, math.nan)
        name = f"{ptp.clients} concurrent clients"
        rows.append(_cpu_row(name, ptp.cpu, ptp.completed, inproc, itp.completed))
    pb, ib = result.parley_burst, result.inproc_burst
    if pb is not None and ib is not None:
        inproc = ib.cpu.get(INPROCESS, math.nan)
        name = f"burst of {pb.size}"
        rows.append(_cpu_row(name, pb.cpu, pb.completed, inproc, ib.completed))
    if not rows:
        return []
    header = ["Phase", "Parley API", "Parley worker", "Parley API + worker", "In-process", "Ratio"]
    return [
        "CPU time per completed turn (user + system from /proc for Parley's processes; the "
        "benchmark process's own for the in-process loop, its fixture rows included; the fake "
        "LLM and the database servers are in neither):",
        "",
        *_table(header, rows),
    ]


PHASES: list[tuple[str, Callable[[TurnSample], float]]] = [
    ("`POST /v1/runs` round trip (202)", lambda s: s.post),
    ("client send → run row built (HTTP, auth)", lambda s: s.server_time("created_at") - s.sent_at),
    (
        "created → started (commit, publish, broker pickup, claim)",
        lambda s: s.server_time("started_at") - s.server_time("created_at"),
    ),
    (
        "started → finished (agent loop, ledger, ending)",
        lambda s: s.server_time("finished_at") - s.server_time("started_at"),
    ),
    (
        "finished → terminal seen by the long-poll (commit, notify, wake, re-read)",
        lambda s: s.seen_at - s.server_time("finished_at"),
    ),
]


def _phases(result: TierResult) -> list[str]:
    """Where a Parley turn's time goes, from the run's own timestamps, under each load."""
    loads: list[tuple[str, Turns]] = [("sequential", result.parley_seq.turns)]
    if result.parley_tp is not None:
        loads.append((f"{result.parley_tp.clients} clients", result.parley_tp.turns))
    if result.parley_burst is not None:
        loads.append((f"burst of {result.parley_burst.size}", result.parley_burst.turns))
    loads = [(name, turns) for name, turns in loads if turns.samples]
    if not loads:
        return []
    header = ["Phase", *(f"{name} {q}" for name, _ in loads for q in ("p50", "p99"))]
    rows = []
    for phase, measure in PHASES:
        row = [phase]
        for _, turns in loads:
            values = [measure(s) for s in turns.samples]
            row.extend([_ms(percentile(values, 50)), _ms(percentile(values, 99))])
        rows.append(row)
    return [
        "Where a Parley turn's time goes (the run's own timestamps; every process on this "
        "machine's clock):",
        "",
        *_table(header, rows),
    ]


def _setup_costs(result: TierResult) -> list[str]:
    """The MCP setup costs: the server is built once per worker process, a session per turn."""
    if not result.server_builds:
        return []
    inproc = Summary.of(result.inproc_seq.durations)
    builds = Summary.of(result.server_builds)
    sessions = Summary.of(result.sessions)
    rows = [
        [
            f"`build_todo_server(db)` (n={builds.n})",
            _ms(builds.p50),
            _ms(builds.p99),
            _x(ratio(builds.p50, inproc.p50)),
        ],
        [
            f"MCP `Client(server)` open + close (n={sessions.n})",
            _ms(sessions.p50),
            _ms(sessions.p99),
            _x(ratio(sessions.p50, inproc.p50)),
        ],
    ]
    return [
        "MCP setup (the worker builds the todo MCP server once per process, as the in-process "
        "baseline does, and opens one client session per turn):",
        "",
        *_table(["Step", "p50", "p99", "p50 / in-process turn p50"], rows),
    ]


def _describe(turns: Turns) -> str:
    failures = ", ".join(f"{k} × {v}" for k, v in sorted(turns.failures.items())) or "none"
    return f"{turns.failed} not completed ({failures}); HTTP trouble seen: {turns.tally}"


def _health(result: TierResult) -> list[str]:
    """Turns that did not complete as expected, so a fast but broken run cannot pass unseen."""
    notes = [f"- Sequential Parley turns: {_describe(result.parley_seq.turns)}."]
    if result.parley_tp is not None:
        notes.append(f"- Throughput turns: {_describe(result.parley_tp.turns)}.")
    if result.parley_burst is not None:
        b = result.parley_burst
        notes.append(
            f"- Burst turns: {_describe(b.turns)}. Last `202` after {_s(b.submit_phase)}; "
            f"server span (first created → last finished) {_s(b.server_span)}; CPU used "
            f"during the burst: API {_s(b.cpu.get('api', math.nan))}, worker "
            f"{_s(b.cpu.get('worker', math.nan))}."
        )
        if b.pg_peak is not None:
            database, server, limit = b.pg_peak
            notes.append(
                f"- PostgreSQL connections during the burst: peak {database} to Parley's "
                f"database, {server} server-wide (other databases included), "
                f"max_connections {limit}."
            )
    if result.inproc_burst is not None:
        notes.append(f"- In-process burst: {_describe(result.inproc_burst.turns)}.")
    if result.complaints:
        notes.extend(
            ["", "Warnings and errors Parley logged during the run (ids and numbers masked):", ""]
        )
        top = result.complaints.most_common(MAX_COMPLAINTS)
        rows = [[f"`{_cell(k)}`", str(v)] for k, v in top]
        notes.extend(_table(["Log line", "Count"], rows))
        rest = sum(result.complaints.values()) - sum(v for _, v in top)
        if rest:
            notes.append(f"| … {rest} more | |")
    return notes


def render(results: list[TierResult], sizes: Sizes, header: list[str]) -> str:
    """The whole report: context lines, then one section per tier."""
    parts = ["# Parley benchmark", "", *header, ""]
    for result in results:
        parts.extend([render_tier(result, sizes), ""])
    return "\n".join(parts)
