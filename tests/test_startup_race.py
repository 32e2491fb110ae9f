"""Web, worker and beat started at the same instant on a fresh database serve the first turn.

Before the release step created the embedded broker's tables and queues, the three processes
raced to create them (`table kombu_message already exists`, `UNIQUE constraint failed:
kombu_queue.name`): a worker died with "Unrecoverable error" or its first turn stayed queued
for a minute. Ten fresh starts, each as the Procfile does it: release, then all three at once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fakellm import FakeLLM
from tests.conftest import TIERS, build_stack, teardown_stack

STARTS = 10
FIRST_TURN_SECONDS = 5.0
RACE_SYMPTOMS = ("already exists", "UNIQUE constraint failed", "Unrecoverable error", "Traceback")


# Ten stacks started one after another: minutes on a busy 2-core machine.
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("tier", TIERS)
def test_first_turn_after_a_simultaneous_start(
    tier: str, llm: FakeLLM, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    for attempt in range(STARTS):
        workdir = tmp_path / f"start-{attempt}"
        workdir.mkdir()
        stack = build_stack(tier, workdir, llm)
        failed_before = request.session.testsfailed
        ok = False
        try:
            stack.start()
            with stack.client() as api:
                began = time.monotonic()
                run = api.turn(f"hello {attempt}")
                took = time.monotonic() - began
            assert run["status"] == "completed", (attempt, run)
            assert took < FIRST_TURN_SECONDS, f"start {attempt}: first turn took {took:.1f} s"
            logs = "\n".join(proc.log() for proc in stack.procs.values())
            for symptom in RACE_SYMPTOMS:
                assert symptom not in logs, f"start {attempt}: {symptom!r} in\n{logs}"
            ok = True
        finally:
            teardown_stack(stack, failed=not ok or request.session.testsfailed > failed_before)
