"""Child processes of the benchmark: own session (so a whole group stops), output to a log file.

Kept free of heavy imports: the floor's Celery worker imports this module too.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@dataclass
class Background:
    """A child process in its own session (so its whole group can be stopped), logging to a file."""

    name: str
    command: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Background:
        handle = self.log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            handle.close()
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_for_log(self, marker: str, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.log_tail(1_000_000):
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready in {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, first: signal.Signals = signal.SIGTERM) -> None:
        """Signal the group with `first`, then SIGKILL it if it is still there after a while."""
        popen, self.popen = self.popen, None
        if popen is None:
            return
        for sig, grace in ((first, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                popen.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop on signal %d", self.name, sig)
