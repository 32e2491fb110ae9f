"""PNG plots of a benchmark run for docs/: latency CDFs, burst completions, CPU per turn."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from bench.report import TierResult  # noqa: E402
from bench.scenarios import INPROCESS  # noqa: E402


def _cdf(values: list[float]) -> tuple[list[float], list[float]]:
    ordered = sorted(values)
    n = len(ordered)
    return [v * 1000 for v in ordered], [(i + 1) / n for i in range(n)]


def latency_cdf(results: list[TierResult], path: Path) -> None:
    """Turn latency: Parley against the in-process loop and the Celery floor, per tier."""
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, result in zip(axes[0], results, strict=True):
        for label, values in (
            ("Parley (submit → long-poll sees the end)", result.parley_seq.durations),
            ("in-process agent loop", result.inproc_seq.durations),
            ("Celery no-op round trip", result.floor),
        ):
            if values:
                xs, ys = _cdf(values)
                ax.step(xs, ys, where="post", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("ms (log scale)")
        ax.set_ylabel("share of turns")
        ax.set_title(f"Turn latency, {result.tier}")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def burst_completions(results: list[TierResult], llm_seconds: float, path: Path) -> None:
    """Turns of the burst finished over time (server clock), against the ideal."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ideal = 2 * llm_seconds
    size = 0
    for result in results:
        burst = result.parley_burst
        if burst is None or not burst.turns.samples:
            continue
        samples = burst.turns.samples
        size = max(size, burst.size)
        start = min(s.sent_at for s in samples)
        done = sorted(s.seen_at - start for s in samples)
        ax.step([0.0, *done], list(range(len(done) + 1)), where="post", label=result.tier)
    if size:
        ax.step([0, ideal], [0, size], where="post", linestyle="--", color="gray", label="ideal")
    ax.set_xlabel("seconds since the first submit")
    ax.set_ylabel("turns completed")
    ax.set_title(f"Burst of {size} turns, LLM {llm_seconds:g} s per call")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _per_turn(cpu: dict[str, float], key: str, turns: int) -> float:
    return cpu.get(key, math.nan) / turns * 1000 if turns else math.nan


def cpu_per_turn(results: list[TierResult], path: Path) -> None:
    """CPU per completed turn by phase: Parley's API and worker stacked, the in-process loop."""
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, result in zip(axes[0], results, strict=True):
        labels, api, worker, inproc = [], [], [], []
        phases = [
            (
                "sequential",
                result.parley_seq.cpu,
                len(result.parley_seq.durations),
                result.inproc_seq.cpu,
                len(result.inproc_seq.durations),
            ),
        ]
        if result.parley_tp and result.inproc_tp:
            phases.append(
                (
                    "concurrent",
                    result.parley_tp.cpu,
                    result.parley_tp.completed,
                    result.inproc_tp.cpu,
                    result.inproc_tp.completed,
                )
            )
        if result.parley_burst and result.inproc_burst:
            phases.append(
                (
                    "burst",
                    result.parley_burst.cpu,
                    result.parley_burst.completed,
                    result.inproc_burst.cpu,
                    result.inproc_burst.completed,
                )
            )
        for name, pcpu, pturns, icpu, iturns in phases:
            labels.append(name)
            api.append(_per_turn(pcpu, "api", pturns))
            worker.append(_per_turn(pcpu, "worker", pturns))
            inproc.append(_per_turn(icpu, INPROCESS, iturns))
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], api, 0.4, label="Parley API")
        ax.bar([x - 0.2 for x in xs], worker, 0.4, bottom=api, label="Parley worker")
        ax.bar([x + 0.2 for x in xs], inproc, 0.4, label="in-process loop")
        ax.set_xticks(list(xs), labels)
        ax.set_ylabel("CPU ms per completed turn")
        ax.set_title(f"CPU per turn, {result.tier}")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(results: list[TierResult], llm_seconds: float, folder: Path) -> list[Path]:
    """Every plot of the run, as PNG files in `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "bench-latency.png", folder / "bench-burst.png", folder / "bench-cpu.png"]
    latency_cdf(results, paths[0])
    burst_completions(results, llm_seconds, paths[1])
    cpu_per_turn(results, paths[2])
    return paths
