"""Run several worker processes as one: forward stop signals, report a death, exit with them.

`parley worker` starts one Celery worker per core. The children stay in the supervisor's
process group, so a process manager that signals the group (honcho, a test stack) reaches them
too; one that signals only the supervisor (Docker's PID 1) gets its signal forwarded.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from types import FrameType

log = logging.getLogger("parley.supervise")

POLL_SECONDS = 0.2
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def describe(returncode: int) -> str:
    """How a child ended, as an operator reads it."""
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


def supervise(commands: dict[str, list[str]], env: dict[str, dict[str, str]] | None = None) -> int:
    """Start every command, wait until all have exited, and return the exit status.

    `env` adds variables to a named child's environment (each its own metrics port).

    SIGTERM or SIGINT asks every child for a warm shutdown (SIGTERM: Celery finishes the turns
    in flight; it is forwarded as SIGTERM even for SIGINT, since a terminal's Ctrl-C already
    reached the children and a second SIGINT would make Celery cut turns short). A child that
    dies on its own is reported and the others are stopped: the worker exits 1 and its process
    manager restarts it whole, rather than carrying on with fewer processes than it was told.
    """
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False
    status = 0

    def stop() -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping the worker processes", signal.Signals(signum).name)
        stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        for name, argv in commands.items():
            if stopping:
                break
            extra = (env or {}).get(name)
            children[name] = subprocess.Popen(argv, env={**os.environ, **extra} if extra else None)
            log.info("started %s (pid %d)", name, children[name].pid)
        ended: set[str] = set()
        while len(ended) < len(children):
            time.sleep(POLL_SECONDS)
            for name, child in children.items():
                code = child.poll()
                if code is None or name in ended:
                    continue
                ended.add(name)
                if stopping and code in (0, -signal.SIGTERM):
                    log.info("%s (pid %d) stopped", name, child.pid)
                    continue
                status = 1
                if stopping:
                    log.error("%s (pid %d) stopped uncleanly: %s", name, child.pid, describe(code))
                else:
                    log.error(
                        "%s (pid %d) died (%s); stopping the other worker processes",
                        name,
                        child.pid,
                        describe(code),
                    )
                    stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for child in children.values():  # only on an error above: never leave orphans
            if child.poll() is None:
                child.terminate()
    return status
