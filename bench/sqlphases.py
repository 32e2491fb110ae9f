"""SQL per turn, phase by phase: the two-call turn run through tests/sqlbudget.py on the tier's
own database (with a private broker, so the running worker never races it for the run)."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.stack import BIN, ROOT

if TYPE_CHECKING:
    from bench.infra import BenchStack

MESSAGE = "Add a task to buy milk"


def measure(stack: BenchStack) -> list[dict[str, Any]]:
    """Every transaction of one turn: phase label, statements, whether it was a delta batch."""
    broker = Path(stack.workdir) / "sqlbudget-broker.db"
    env = {
        **stack.env,
        "REDIS_URL": "",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{broker}",
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": stack.llm.base_url,
    }
    done = subprocess.run(
        [str(BIN / "python"), "-m", "tests.sqlbudget", MESSAGE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def render(transactions: list[dict[str, Any]]) -> list[str]:
    """A table: one row per transaction, delta batches folded into one line."""
    if not transactions:
        return []
    names = {"submit": "API: `POST /v1/runs`", "read": "API: long-poll read"}
    worker_steps = iter(
        [
            "claim + user message + history",
            "tool step recorded",
            "tool effect + ledger + event",
            "ending + message + events + next turn",
        ]
    )
    rows: list[str] = []
    deltas = [t for t in transactions if t["delta_batch"]]
    for t in transactions:
        if t["delta_batch"]:
            continue
        label = names.get(t["label"]) or f"worker: {next(worker_steps, 'other')}"
        shapes = Counter(t["statements"])
        detail = ", ".join(f"{s}{f' ×{n}' if n > 1 else ''}" for s, n in shapes.items())
        rows.append(f"| {label} | 1 | {len(t['statements'])} | {detail} |")
    others = [t for t in transactions if not t["delta_batch"]]
    total = sum(len(t["statements"]) for t in others)
    if deltas:
        per = len(deltas[0]["statements"])
        rows.append(
            f"| worker: streamed deltas (batched by time) | {len(deltas)} | {per} each | "
            f"{', '.join(deltas[0]['statements'])} |"
        )
    return [
        "SQL per two-call turn (`python -m tests.sqlbudget`, the code the API and worker run; "
        "v1 took about 30 transactions and 44 statements):",
        "",
        "| Phase | Transactions | Statements | What |",
        "| --- | ---: | ---: | --- |",
        *rows,
        f"| **total outside delta batches** | **{len(others)}** | **{total}** | |",
    ]
