"""Real MCP servers (tests/worker/mcp/server.py) as processes the tests start and kill."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.stack import BIN

SERVER = Path(__file__).resolve().parent / "server.py"


class HttpMcpServer:
    """`server.py http PORT NAME` in a process of its own (its output in `log`)."""

    def __init__(self, name: str, port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.port, self.log, self.env = name, port, log, env or {}
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> HttpMcpServer:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [str(BIN / "python"), str(SERVER), "http", str(self.port), self.name],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert self.popen.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, f"MCP server {self.name} did not start"
                time.sleep(0.1)

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


def stdio_command() -> tuple[str, list[str]]:
    """The command and arguments of `server.py stdio`, for an MCP_SERVERS_FILE entry."""
    return str(BIN / "python"), [str(SERVER), "stdio"]
