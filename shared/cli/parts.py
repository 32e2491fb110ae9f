"""The Procfile's processes as commands: `parley release | web | worker | beat | flower`.

Each honours its variables the same way (`PORT`/`HOST`, `WORKER_PROCESSES`/`WORKER_CONCURRENCY`,
`FLOWER_PORT`/`FLOWER_ADDRESS`/`FLOWER_BASIC_AUTH`) and runs from the project directory.
`web`, `beat` and `flower` replace themselves with the real process, so its signals and exit
status are the process manager's to see; `worker` supervises its processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Annotated

import typer

from shared.cli.argv import (
    BEAT_SCHEDULE,
    beat_argv,
    console_script,
    flower_argv,
    web_argv,
    worker_argv,
    worker_hostname,
)
from shared.cli.supervise import supervise
from shared.config import get_settings
from shared.logging import configure_logging

Host = Annotated[str, typer.Option(envvar="HOST", help="Address to listen on.")]
Port = Annotated[int, typer.Option(envvar="PORT", help="Port to listen on.")]


def _exec(argv: list[str]) -> None:
    os.execvp(argv[0], argv)


def migrate() -> None:
    """Apply all database migrations (idempotent)."""
    subprocess.run([console_script("alembic"), "upgrade", "head"], check=True)


def release() -> None:
    """Migrate, then create the broker's tables: once per deploy, before the other processes."""
    from shared.celery_app import prepare_broker

    migrate()
    prepare_broker()


def web(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Serve the API (uvicorn) on HOST:PORT."""
    _exec(web_argv(host, port))


def worker(
    processes: Annotated[
        int | None,
        typer.Option(
            min=1, help="Worker processes [default: WORKER_PROCESSES, else one per core]."
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, help="Turns each process holds in flight [default: WORKER_CONCURRENCY]."
        ),
    ] = None,
) -> None:
    """Run the Celery worker processes and supervise them until SIGTERM or Ctrl-C."""
    settings = get_settings()
    count = processes or settings.worker_process_count
    threads = concurrency or settings.worker_concurrency
    configure_logging("parley worker")
    commands = {
        f"worker{index}": worker_argv(worker_hostname(index), threads)
        for index in range(1, count + 1)
    }
    raise typer.Exit(supervise(commands, metrics_ports(settings.worker_metrics_port, count)))


def metrics_ports(base: int | None, count: int) -> dict[str, dict[str, str]]:
    """Process N's WORKER_METRICS_PORT: the configured port + N - 1, so each process of one
    host is its own scrape target on a predictable port (none when unset)."""
    if base is None:
        return {}
    return {
        f"worker{index}": {"WORKER_METRICS_PORT": str(base + index - 1)}
        for index in range(1, count + 1)
    }


def beat() -> None:
    """Run Celery beat (the sweepers and the event pruner); one per deployment."""
    BEAT_SCHEDULE.parent.mkdir(parents=True, exist_ok=True)
    _exec(beat_argv())


def flower(
    address: Annotated[str, typer.Option(envvar="FLOWER_ADDRESS", help="Address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="FLOWER_PORT", help="Port.")] = 5555,
) -> None:
    """Run Flower when FLOWER_BASIC_AUTH is set; otherwise say so and idle until stopped."""
    if os.environ.get("FLOWER_BASIC_AUTH"):
        _exec(flower_argv(address, port))
    # Exiting, even with 0, would make honcho stop every other process of the Procfile.
    typer.echo(
        "Flower is off: set FLOWER_BASIC_AUTH=user:password to run it "
        f"(on {address}:{port}). Idling until stopped.",
        err=True,
    )
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    signal.sigwait(stop)
