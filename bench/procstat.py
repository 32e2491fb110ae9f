"""Resident memory and CPU time of process trees from /proc, and a peak-keeping sampler."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

SAMPLE_SECONDS = 0.1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (via /proc/<pid>/task/<tid>/children)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                pending.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def rss_bytes(pid: int) -> int:
    """VmRSS of one process (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> int:
    """VmRSS summed over `pid` and its descendants."""
    return sum(rss_bytes(p) for p in descendants(pid))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time one process has used so far (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces; the fields after it are space-separated.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu(pids: Iterable[int]) -> float:
    """CPU seconds used by the trees rooted at `pids`."""
    return sum(cpu_seconds(p) for root in pids for p in descendants(root))


class PeakSampler:
    """Calls `probe` every 100 ms between start() and stop(), keeping each value's maximum."""

    def __init__(self, probe: Callable[[], Sequence[int]], name: str = "sampler") -> None:
        self.probe = probe
        self.peaks: list[int] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name=name, daemon=True)

    def _take(self) -> None:
        values = list(self.probe())
        if self.peaks:
            values = [max(a, b) for a, b in zip(self.peaks, values, strict=True)]
        self.peaks = values
        self.samples += 1

    def _sample(self) -> None:
        while True:
            self._take()
            if self._stop.wait(SAMPLE_SECONDS):
                return

    def start(self) -> PeakSampler:
        self._thread.start()
        return self

    def stop(self) -> list[int]:
        """Stop sampling (after one last sample); returns the peaks."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._take()
        return self.peaks
