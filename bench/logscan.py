"""What Parley's processes complained about during a run: WARNING and ERROR lines, grouped.

Run ids, task ids and numbers are masked so that one kind of complaint counts as one line.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

LEVELS = re.compile(r" (WARNING|ERROR|CRITICAL) \[(\w+)\] (.*)$")
MASKS = [
    (re.compile(r"\b(run|conv|msg|tc|evt)_[0-9a-z]{20,}\b"), r"\1_…"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "…"),
    (re.compile(r"\d+(\.\d+)?"), "N"),
]
MAX_LENGTH = 160


def complaints(logs: list[Path]) -> Counter[str]:
    """`[process] LEVEL message` (masked, shortened) → how often it was logged."""
    found: Counter[str] = Counter()
    for path in logs:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            match = LEVELS.search(line)
            if match is None:
                continue
            level, process, message = match.groups()
            for pattern, replacement in MASKS:
                message = pattern.sub(replacement, message)
            if len(message) > MAX_LENGTH:
                message = message[: MAX_LENGTH - 1] + "…"
            found[f"[{process}] {level} {message}"] += 1
    return found
