"""`python -m bench.run`: start everything, measure issue 2's figures, print and save the table.

Each tier gets a fresh stack (API, worker, beat, database, broker) and a fake LLM process; the
baselines (a bare Celery round trip, Parley's agent loop in-process) run in the same session
against the same database and broker, and every figure is reported as a ratio to them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from bench import plots
from bench.infra import (
    PRODUCTION_TIMINGS,
    BenchStack,
    build_stack,
    launch_fake_llm,
    teardown_stack,
    wait_fake_llm,
)
from bench.logscan import complaints
from bench.phases import LATENCY_ROUNDS, measure_turns
from bench.procs import Background
from bench.report import Sizes, TierResult, render
from shared.config import Settings
from tests.stack import ROOT

log = logging.getLogger("bench")

RESULTS = ROOT / "bench" / "results" / "latest.md"
SHOWN_SETTINGS = (
    "db_pool_size",
    "db_max_overflow",
    "run_lease_seconds",
    "rate_limit_runs_per_minute",
    "max_active_runs_per_user",
)
FULL = Sizes(turns=300, warmup=10, clients=20, duration=10.0, burst=200, llm_seconds=2.0)
QUICK = Sizes(turns=5, warmup=1, clients=20, duration=2.0, burst=20, llm_seconds=0.5, quick=True)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Sizes]:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--tier", choices=("services", "embedded", "both"), default="services")
    parser.add_argument("--quick", action="store_true", help="small counts (CI smoke, < 60 s)")
    parser.add_argument("--turns", type=int, help="sequential turns per latency sample")
    parser.add_argument("--warmup", type=int, help="turns run and discarded before each sample")
    parser.add_argument("--clients", type=int, help="concurrent clients for the throughput")
    parser.add_argument("--duration", type=float, help="seconds the throughput clients loop")
    parser.add_argument("--burst", type=int, help="turns submitted at once")
    parser.add_argument("--llm-seconds", type=float, help="fake LLM seconds per call (burst)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the table")
    parser.add_argument("--note", action="append", default=[], help="a line for the report")
    parser.add_argument("--keep", action="store_true", help="keep the work directories (logs)")
    parser.add_argument(
        "--stack-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment for Parley's processes (e.g. DB_POOL_SIZE=20); repeatable",
    )
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Sizes) if f.name != "quick"}
    overrides = {name: value for name, value in given.items() if value is not None}
    sizes = dataclasses.replace(base, **overrides, quick=args.quick)
    if min(sizes.turns, sizes.clients, sizes.burst) < 1 or sizes.warmup < 0:
        parser.error("counts must be positive")
    if sizes.duration <= 0 or sizes.llm_seconds < 0:
        parser.error("durations must be positive")
    for item in args.stack_env:
        name, sep, _value = item.partition("=")
        if not sep or not name.isidentifier():
            parser.error(f"--stack-env wants NAME=VALUE, not {item!r}")
    return args, sizes


def run_tier(tier: str, sizes: Sizes, keep: bool, stack_env: dict[str, str]) -> TierResult:
    """One tier from start to clean-up; logs of the processes go to stderr on failure."""
    workdir = Path(tempfile.mkdtemp(prefix=f"parley-bench-{tier}-"))
    result = TierResult(tier)
    llm_proc: Background | None = None
    stack: BenchStack | None = None
    failed = True
    try:
        llm_proc, llm = launch_fake_llm(workdir)  # boots while the stack does
        stack = build_stack(tier, workdir, llm)
        stack.extra_env.update(stack_env)
        log.info("%s: starting the stack in %s", tier, workdir)
        stack.start()
        wait_fake_llm(llm_proc, llm)
        asyncio.run(measure_turns(stack, sizes, result))
        result.complaints = complaints([p.log_path for p in stack.procs.values()])
        failed = False
        return result
    finally:
        if failed and stack is not None:
            print(stack.logs(), file=sys.stderr)
        try:
            if stack is not None:
                log.info("%s: stopping the stack", tier)
                teardown_stack(stack)
        finally:
            if llm_proc is not None:
                llm_proc.stop()
            if keep or failed:
                log.info("%s: logs kept in %s", tier, workdir)
            else:
                shutil.rmtree(workdir, ignore_errors=True)


def header(
    sizes: Sizes, notes: list[str], load_before: tuple[float, ...], stack_env: dict[str, str]
) -> list[str]:
    """Context lines: when, what, on which machine, how loaded."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    load_after = os.getloadavg()
    mode = "quick (CI smoke)" if sizes.quick else "full"
    lines = [
        f"- {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit `{commit or '?'}`"
        f"{' (uncommitted changes)' if dirty else ''}, {mode} run; Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after.",
        f"- Sizes: {sizes.turns} sequential turns (+{sizes.warmup} warm-up) per latency sample; "
        f"{sizes.clients} clients × {sizes.duration:g} s; burst of {sizes.burst} turns at "
        f"{sizes.llm_seconds:g} s per LLM call.",
        "- A turn is `Add a task to buy milk`: two model calls (the `add_task` tool call, then "
        "the reply) and one tool call. The fake LLM (`python -m fakellm`) runs in its own "
        "process and answers at once, except in the burst, where each call sleeps "
        f"{sizes.llm_seconds:g} s (`[[latency=…]]`), so the ideal turn takes "
        f"2 × {sizes.llm_seconds:g} s.",
        "- Parley runs as the Procfile does (uvicorn, `celery worker --pool threads "
        "--concurrency 200 --prefetch-multiplier 1`, beat), production defaults for leases "
        "and the sweeper, the per-user rate limit off. Baselines, same run, same database and "
        "broker: a throwaway Celery app's no-op `delay().get()` (threads pool, Redis result "
        "backend or a polled `db+sqlite` one); Parley's `AgentLoop` called in the benchmark "
        "process with `OpenAIModel` and an in-memory MCP `Client(build_todo_server(db))`.",
        f"- Parley settings that shape these figures: {settings_in_effect(stack_env)}.",
        f"- Latency runs in {LATENCY_ROUNDS} interleaved rounds (floor, in-process, Parley) and "
        "throughput in ABBA order (in-process, Parley, Parley, in-process; half the duration "
        "each), so a shared machine's load drift hits Parley and its baselines alike; the "
        "burst runs in-process first, then through Parley. Absolute numbers move with the "
        "machine's load; the ratios much less.",
        *(f"- Note: {n}" for n in notes),
    ]
    return lines


def settings_in_effect(stack_env: dict[str, str]) -> str:
    """The pool and concurrency settings the stack ran with (defaults unless overridden)."""
    env = {**PRODUCTION_TIMINGS, **stack_env}
    parts = []
    for name in SHOWN_SETTINGS:
        default = Settings.model_fields.get(name)
        if name.upper() in env:
            parts.append(f"`{name.upper()}={env[name.upper()]}` (set by the benchmark)")
        elif default is not None:
            parts.append(f"`{name.upper()}={default.default}`")
    return ", ".join(parts)


def _raise_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args, sizes = parse_args(argv)
    # Progress lines only: the SDKs' own INFO logs (every HTTP request) would drown them.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    signal.signal(signal.SIGTERM, _raise_exit)  # run the clean-up in `finally` blocks
    tiers = ["services", "embedded"] if args.tier == "both" else [args.tier]
    load_before = os.getloadavg()
    started = time.monotonic()
    stack_env = dict(item.split("=", 1) for item in args.stack_env)
    results = [run_tier(tier, sizes, args.keep, stack_env) for tier in tiers]
    text = render(results, sizes, header(sizes, args.note, load_before, stack_env))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    if not sizes.quick:
        for path in plots.write_all(results, sizes.llm_seconds, ROOT / "docs"):
            log.info("plot written to %s", path)
    print(text)
    log.info("done in %.1f s; table written to %s", time.monotonic() - started, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
