"""A wrong MCP_SERVERS_FILE stops the API and the worker at start-up, saying what is wrong."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from shared.cli.argv import web_argv, worker_argv
from tests.stack import ROOT, free_port


def test_the_api_and_the_worker_refuse_to_start(tmp_path: Path) -> None:
    bad = tmp_path / "servers.yaml"
    bad.write_text("servers: [{name: notes, transport: ftp}]")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "OPENAI_"))},
        "MCP_SERVERS_FILE": str(bad),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
    }
    commands = {
        "web": web_argv("127.0.0.1", free_port(), graceful_shutdown_seconds=1, log_level="info"),
        "worker": worker_argv("bad@%h", 1),
    }
    for name, command in commands.items():
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        output = done.stdout + done.stderr
        assert done.returncode != 0, (name, output)
        assert f"MCP_SERVERS_FILE={bad} is invalid: servers.0" in output, (name, output)
