"""Celery tasks of the runs domain: thin wrappers that hand coroutines to the process loop."""

from __future__ import annotations

from shared import logcontext
from shared.celery_app import celery_app
from worker import metrics
from worker.runs.sweep import sweep
from worker.runtime import runtime


@celery_app.task(name="runs.execute", acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
def execute(run_id: str) -> bool:
    """Claim one chat turn and start it on the process loop (safe to deliver twice: the claim
    lets one execution through); True if this worker took it."""
    rt = runtime()
    # The loop's tasks do not inherit this thread's context: the ids go along explicitly.
    return rt.call(logcontext.bound(rt.inflight.admit(rt, run_id), **logcontext.current()))


@celery_app.task(name="runs.sweep", acks_late=True)  # type: ignore[untyped-decorator]
def sweep_runs() -> dict[str, int]:
    """Re-dispatch runs whose message or worker was lost."""
    rt = runtime()
    counts = rt.call(sweep(rt))
    for action, count in counts.items():  # counted once the sweep has committed
        if count:
            metrics.SWEEPER_RUNS.labels(action).inc(count)
    return counts
