"""`python -m bench.fairness`: another user's turn while one user floods (issue 14's figure).

One stack per tier with the shipped per-user cap (MAX_ACTIVE_RUNS_PER_USER, 20 unless
`--cap`). A quiet user's turns are timed alone (the baseline, same run), then while a
flooding user's `--flood` turns are submitted at once and run; the figure is the quiet user's
p50 during the flood over its p50 alone (target ≤ 2×). Written to bench/results/fairness.md.

The cap shares worker slots, not CPU: with model calls of a realistic length (2 s, the default)
the flood's turns mostly wait on the model and the quiet turn barely notices them; with
near-instant ones (`--llm-seconds 0.3`) the capped flood alone saturates a 2-core machine and
the quiet turn shares the CPU with it (measured 13× there), which only CPU priority could fix.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.client import Tally, TurnError, make_client, submit, turn, wait
from bench.infra import build_stack, launch_fake_llm, teardown_stack, wait_fake_llm
from bench.stats import Summary, ratio
from tests.stack import ROOT

log = logging.getLogger("bench.fairness")

RESULTS = ROOT / "bench" / "results" / "fairness.md"
TARGET_RATIO = 2.0
TURN_TIMEOUT = 600.0
FLOOD_TIMEOUT = 3600.0  # a flood turn may wait its turn behind the whole flood


@dataclass
class Outcome:
    """One tier's figures: the quiet user's turns alone and during the flood, and the flood."""

    tier: str
    alone: list[float] = field(default_factory=list)
    during: list[float] = field(default_factory=list)
    # The quiet user's turns during the flood, split: created → started (waiting for a worker
    # slot), started → finished (running beside the flood).
    during_queued: list[float] = field(default_factory=list)
    during_running: list[float] = field(default_factory=list)
    flood_seconds: float = 0.0
    flood_completed: int = 0
    flood_failed: int = 0
    flood_outcomes: Counter[str] = field(default_factory=Counter)
    quiet_failed: Counter[str] = field(default_factory=Counter)
    tally: Tally = field(default_factory=Tally)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fairness", description=__doc__)
    parser.add_argument("--tier", choices=("services", "embedded", "both"), default="services")
    parser.add_argument("--flood", type=int, default=1000, help="turns the flooding user submits")
    parser.add_argument("--cap", type=int, default=20, help="MAX_ACTIVE_RUNS_PER_USER")
    parser.add_argument("--llm-seconds", type=float, default=2.0, help="per model call (flood)")
    parser.add_argument("--samples", type=int, default=15, help="quiet user's turns per phase")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


async def measure(base_url: str, args: argparse.Namespace, out: Outcome) -> None:
    """The quiet user's turns alone, then the flood with the quiet user's turns beside it."""
    quiet = make_client(base_url, 4)
    flooder = make_client(base_url, 200)
    message = "Add a task to water the plants"
    try:
        for _ in range(3):  # warm-up: connections, the worker's first turn
            await turn(quiet, message, TURN_TIMEOUT, out.tally)
        for _ in range(args.samples):
            out.alone.append((await turn(quiet, message, TURN_TIMEOUT, out.tally)).total)
        started = time.monotonic()
        flood_message = f"Add a task to flood [[latency={args.llm_seconds}]]"
        runs = await asyncio.gather(
            *(submit(flooder, flood_message, out.tally) for _ in range(args.flood))
        )
        log.info(
            "%s: %d flood turns submitted in %.1f s",
            out.tier,
            len(runs),
            time.monotonic() - started,
        )

        async def ends(run_id: str) -> None:
            try:
                run = await wait(flooder, run_id, FLOOD_TIMEOUT, out.tally)
            except TurnError as exc:
                out.flood_failed += 1
                out.flood_outcomes[exc.kind] += 1
                return
            if run["status"] == "completed":
                out.flood_completed += 1
            else:
                out.flood_failed += 1
                out.flood_outcomes[f"{run['status']} ({(run.get('error') or {}).get('code')})"] += 1

        waiting = asyncio.gather(*(ends(r["id"]) for r in runs))
        # The quiet user's turns while the flood still has turns waiting.
        for _ in range(args.samples):
            if waiting.done():
                break
            try:
                sample = await turn(quiet, message, TURN_TIMEOUT, out.tally)
            except TurnError as exc:  # counted in the tally; the flood goes on
                out.quiet_failed[exc.kind] += 1
                continue
            out.during.append(sample.total)
            started_at = sample.server_time("started_at")
            out.during_queued.append(started_at - sample.server_time("created_at"))
            out.during_running.append(sample.server_time("finished_at") - started_at)
        await waiting
        out.flood_seconds = time.monotonic() - started
    finally:
        await quiet.aclose()
        await flooder.aclose()


def run_tier(tier: str, args: argparse.Namespace) -> Outcome:
    workdir = Path(tempfile.mkdtemp(prefix=f"parley-fairness-{tier}-"))
    llm_proc, llm = launch_fake_llm(workdir)
    stack = build_stack(tier, workdir, llm)
    stack.extra_env["MAX_ACTIVE_RUNS_PER_USER"] = str(args.cap)
    out = Outcome(tier)
    try:
        stack.start()
        wait_fake_llm(llm_proc, llm)
        asyncio.run(measure(stack.api_url, args, out))
        return out
    finally:
        teardown_stack(stack)
        llm_proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def render(outcomes: list[Outcome], args: argparse.Namespace, load: tuple[float, float]) -> str:
    lines = [
        "# Fairness: another user's turn while one user floods",
        "",
        f"- {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} before, {load[1]:.2f} after; `python -m bench.fairness --flood "
        f"{args.flood} --cap {args.cap} --llm-seconds {args.llm_seconds:g} --samples "
        f"{args.samples}`.",
        f"- The flooding user submits {args.flood} two-call turns at once (each model call "
        f"sleeps {args.llm_seconds:g} s), under `MAX_ACTIVE_RUNS_PER_USER={args.cap}`. A quiet "
        "user runs the same two-call turn (instant model) one after another: alone first, "
        "then during the flood. Target: during / alone ≤ 2× (p50).",
        "",
        "| tier | quiet turn alone p50 / p99 | during the flood p50 / p99 | ratio (p50) | "
        "of which queued / running (p50) | flood: completed / failed, seconds | HTTP trouble |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for o in outcomes:
        alone, during = Summary.of(o.alone), Summary.of(o.during)
        lines.append(
            f"| {o.tier} | {alone.p50 * 1000:.0f} / {alone.p99 * 1000:.0f} ms | "
            f"{during.p50 * 1000:.0f} / {during.p99 * 1000:.0f} ms (n={during.n}) | "
            f"{ratio(during.p50, alone.p50):.2f}× | "
            f"{Summary.of(o.during_queued).p50 * 1000:.0f} / "
            f"{Summary.of(o.during_running).p50 * 1000:.0f} ms | "
            f"{o.flood_completed} / {o.flood_failed}, "
            f"{o.flood_seconds:.1f} s | {o.tally} |"
        )
        if o.quiet_failed:
            kinds = ", ".join(f"{k} × {v}" for k, v in o.quiet_failed.most_common())
            lines.append(
                f"\n{o.tier}: the quiet user's turns that failed during the flood: {kinds}."
            )
        if o.flood_outcomes:
            kinds = ", ".join(f"{k} × {v}" for k, v in o.flood_outcomes.most_common())
            lines.append(f"\n{o.tier}: failed flood turns by kind: {kinds}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    tiers = ["services", "embedded"] if args.tier == "both" else [args.tier]
    before = os.getloadavg()[0]
    outcomes = [run_tier(tier, args) for tier in tiers]
    text = render(outcomes, args, (before, os.getloadavg()[0]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
