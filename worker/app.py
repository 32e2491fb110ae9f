"""Worker entry point: `celery -A worker.app worker --pool threads -Q runs,webhooks,maintenance`."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_shutdown

from shared.celery_app import celery_app
from shared.logging import configure_logging
from worker import watchdog as _watchdog  # noqa: F401  (restarts a wedged consumer)
from worker.tasks import runs as _runs  # noqa: F401  (registers the tasks)
from worker.tasks import webhooks as _webhooks  # noqa: F401

app = celery_app
configure_logging("worker")


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _on_shutdown(**_: Any) -> None:
    from worker.runtime import shutdown

    shutdown()
