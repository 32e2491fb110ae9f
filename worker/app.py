"""Worker entry point: `celery -A worker.app worker --pool threads -Q runs,webhooks,maintenance`."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import celeryd_after_setup, task_prerun, worker_init, worker_shutdown

from shared import logcontext, telemetry
from shared.celery_app import REQUEST_ID_HEADER, celery_app
from shared.config import get_settings
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
    """Serve this process's metrics (WORKER_METRICS_PORT), check MCP_SERVERS_FILE, and build the
    runtime (loop, pools, model client, MCP server) before consuming: built on the first task
    instead, a fresh worker's first turn waited seconds for it on a busy machine."""
    from shared.mcp_servers.config import ServersFileError, configured_servers
    from worker import metrics
    from worker.runtime import runtime

    settings = get_settings()
    # Before the runtime: its database engines and the first task are traced from the start.
    telemetry.setup(settings, "worker")
    metrics.serve(settings.worker_metrics_port, settings.worker_metrics_address)
    try:
        configured_servers(settings.mcp_servers_file)
    except ServersFileError as exc:
        # Not a transient failure: every turn would fail the same way, so stop here, saying why.
        log.critical("%s", exc)
        raise SystemExit(78) from None
    try:
        runtime()
    except Exception:  # the first task builds it again, and reports why if it still fails
        log.exception("could not build the worker runtime at start-up")


@task_prerun.connect  # type: ignore[untyped-decorator]
def _bind_task(task_id: str, task: Any, args: Any = (), **_: Any) -> None:
    """Tag this pool thread's lines with the task, the API request that sent it and its run."""
    logcontext.clear()
    request_id = task.request.get(REQUEST_ID_HEADER) if task.request else None
    run_id = args[0] if task.name == "runs.execute" and args else None
    logcontext.bind(task_id=task_id, request_id=request_id, run_id=run_id)


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _on_shutdown(**_: Any) -> None:
    from worker.runtime import shutdown

    shutdown()
