"""Worker entry point: `celery -A worker.app worker --pool threads -Q runs,webhooks,maintenance`."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import celeryd_after_setup, worker_init, worker_shutdown

from shared.celery_app import celery_app
from shared.logging import configure_logging
from worker import watchdog as _watchdog  # noqa: F401  (restarts a wedged consumer)
from worker.tasks import runs as _runs  # noqa: F401  (registers the tasks)
from worker.tasks import webhooks as _webhooks  # noqa: F401

log = logging.getLogger(__name__)
app = celery_app
configure_logging("worker")


@celeryd_after_setup.connect  # type: ignore[untyped-decorator]
def _name_logs(sender: str, **_: Any) -> None:
    """Tag log lines with the node name (`worker2@host`): `parley worker`'s processes share
    one output, and an operator must tell which one served a turn."""
    configure_logging(sender, force=True)


@worker_init.connect  # type: ignore[untyped-decorator]
def _on_init(**_: Any) -> None:
    """Build the runtime (loop, pools, model client, MCP server) before consuming: built on the
    first task instead, a fresh worker's first turn waited seconds for it on a busy machine."""
    from worker.runtime import runtime

    try:
        runtime()
    except Exception:  # the first task builds it again, and reports why if it still fails
        log.exception("could not build the worker runtime at start-up")


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _on_shutdown(**_: Any) -> None:
    from worker.runtime import shutdown

    shutdown()
