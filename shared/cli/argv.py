"""Every Parley process's command line, written once.

The Procfile (through `parley web|worker|beat|flower`), `parley dev` and the test stacks all
start processes from these functions, so a flag changed here changes everywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

from shared.queues import QUEUES

BEAT_SCHEDULE = Path("var") / "celerybeat-schedule"


def console_script(name: str) -> str:
    """A console script of this environment (beside the running interpreter), else from PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def web_argv(
    host: str, port: int, *, graceful_shutdown_seconds: int = 10, log_level: str = "info"
) -> list[str]:
    """The API under uvicorn; the graceful-shutdown bound stops open event streams holding a
    SIGTERM'd server up indefinitely."""
    return [
        console_script("uvicorn"),
        "--factory",
        "api.main:app_factory",
        "--host",
        host,
        "--port",
        str(port),
        "--timeout-graceful-shutdown",
        str(graceful_shutdown_seconds),
        "--log-level",
        log_level,
    ]


def worker_hostname(index: int) -> str:
    """The Celery node name of `parley worker`'s process number `index` (1, 2, …)."""
    return f"worker{index}@%h"


def worker_argv(hostname: str, concurrency: int, *, log_level: str = "INFO") -> list[str]:
    """One Celery worker process: the threads pool (each task's thread waits while its turn runs
    on the process's asyncio loop), one message prefetched per thread so a busy process leaves
    work to idle ones, every queue the app uses, and a node name of its own. Mingle and gossip
    are off: Parley uses neither revokes nor worker-to-worker events, and mingle makes every
    start wait for replies."""
    return [
        console_script("celery"),
        "-A",
        "worker.app",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        str(concurrency),
        "--prefetch-multiplier",
        "1",
        "-Q",
        ",".join(QUEUES),
        "--hostname",
        hostname,
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        log_level,
    ]


def beat_argv(schedule: Path = BEAT_SCHEDULE, *, log_level: str = "INFO") -> list[str]:
    """Celery beat: the sweepers and the event pruner (one beat per deployment)."""
    return [
        console_script("celery"),
        "-A",
        "worker.app",
        "beat",
        "--loglevel",
        log_level,
        "--schedule",
        str(schedule),
    ]


def flower_argv(address: str, port: int) -> list[str]:
    """Flower for the same Celery app. Its basic auth comes from FLOWER_BASIC_AUTH in the
    environment (Flower reads FLOWER_* variables), which keeps the password out of `ps`."""
    return [
        console_script("celery"),
        "-A",
        "worker.app",
        "flower",
        f"--address={address}",
        f"--port={port}",
    ]
