"""`parley worker`: WORKER_PROCESSES Celery processes that share the turns and stop as one.

A running stack's own worker is stopped, so `parley worker` (the Procfile's `worker`) serves it.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator

import pytest

from fakellm import FakeLLM
from tests.conftest import TIERS, running_stack
from tests.stack import BIN, Proc, Stack

PROCESSES = 2
TURNS = 8


@pytest.fixture(scope="module", params=TIERS)
def workerless(
    request: pytest.FixtureRequest, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tier = str(request.param)
    with running_stack(request, tier, tmp_path_factory.mktemp(f"cli-{tier}"), llm) as stack:
        stack.kill("worker", signal.SIGTERM)
        yield stack


def start_parley_worker(stack: Stack, name: str) -> Proc:
    """`parley worker` with two processes of two threads each, once both say they are ready."""
    proc = stack.start_proc(
        name,
        [str(BIN / "parley"), "worker"],
        # Two turns in flight per process: a burst of eight has to use both.
        env={"WORKER_PROCESSES": str(PROCESSES), "WORKER_CONCURRENCY": "2"},
    )
    deadline = time.monotonic() + 90
    while len(set(re.findall(r"worker(\d)@\S+ ready\.", proc.log()))) < PROCESSES:
        assert proc.popen is not None and proc.popen.poll() is None, proc.log()[-4000:]
        assert time.monotonic() < deadline, proc.log()[-4000:]
        time.sleep(0.2)
    return proc


def child_pids(proc: Proc) -> dict[str, int]:
    return {
        name: int(pid) for name, pid in re.findall(r"started (worker\d) \(pid (\d+)\)", proc.log())
    }


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_processes_share_the_turns_and_stop_together_on_sigterm(workerless: Stack) -> None:
    proc = start_parley_worker(workerless, "workers")
    pids = child_pids(proc)
    assert set(pids) == {"worker1", "worker2"}
    with workerless.client() as api:
        runs = [api.submit(f"[[latency=0.5]] hello {i}") for i in range(TURNS)]
        assert all(api.wait(run["id"])["status"] == "completed" for run in runs)
    # Every log line names the node that wrote it.
    served = re.findall(r"\[worker(\d)@\S+\] worker\.runs\.execute: run \S+: started", proc.log())
    assert len(served) == TURNS and set(served) == {"1", "2"}, served

    assert proc.popen is not None
    os.kill(proc.popen.pid, signal.SIGTERM)  # the supervisor alone, as Docker stops PID 1
    assert proc.popen.wait(timeout=60) == 0, proc.log()[-4000:]
    assert not any(alive(pid) for pid in pids.values())
    for name, pid in pids.items():
        assert f"{name} (pid {pid}) stopped" in proc.log()


def test_a_process_that_dies_is_reported_and_the_others_stop(workerless: Stack) -> None:
    proc = start_parley_worker(workerless, "doomed")
    pids = child_pids(proc)
    os.kill(pids["worker2"], signal.SIGKILL)
    assert proc.popen is not None
    assert proc.popen.wait(timeout=60) == 1, proc.log()[-4000:]
    assert f"worker2 (pid {pids['worker2']}) died (killed by SIGKILL)" in proc.log()
    assert f"worker1 (pid {pids['worker1']}) stopped" in proc.log()
    assert not alive(pids["worker1"])
