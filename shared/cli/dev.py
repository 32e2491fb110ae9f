"""`parley dev` (`make run`): the whole stack on one machine, honest about how it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import typer

from shared.auth import issue_token
from shared.cli.argv import console_script
from shared.cli.parts import Host, Port, release

DEMO_USER = "demo"
READY_SECONDS = 90
STOP_SECONDS = 15


def _out(text: str = "", *, err: bool = False) -> None:
    typer.echo(text, err=err)


def port_taken(host: str, port: int) -> bool:
    """Whether something already listens on host:port (uvicorn would fail to bind)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by a stopped server is free to reuse.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _wait_ready(url: str, procs: dict[str, subprocess.Popen[bytes]]) -> str | None:
    """Wait until the API answers /readyz; None when ready, else why it is not."""
    import httpx

    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                return f"`parley {name}` exited ({proc.returncode})"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return None
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return f"the API did not answer {url} within {READY_SECONDS} s"


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM each part's process group (workers finish their turns), then SIGKILL stragglers."""
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _interrupt(_signum: int, _frame: object) -> None:
    """Ctrl-C (SIGINT) or SIGTERM: stop every part."""
    raise KeyboardInterrupt


def _banner(host: str, port: int) -> None:
    from shared.config import get_settings

    settings = get_settings()
    mode = "embedded" if settings.embedded else "services"
    _out()
    _out(f"Parley is running at http://{host}:{port}  ({mode} mode)")
    _out(f"Model: {settings.model_description}")
    _out(f"Demo user token (user '{DEMO_USER}', valid 7 days):")
    _out(f"  export TOKEN={issue_token(settings, DEMO_USER)}")
    _out(
        f'Try:  curl -s -X POST http://{host}:{port}/v1/runs -H "Authorization: Bearer $TOKEN" '
        "-H 'Content-Type: application/json' -d '{\"message\": \"Add a task to buy milk\"}'"
    )
    _out("Stop with Ctrl-C.")
    _out()


def dev(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Release, then run the API, the workers and beat together until Ctrl-C."""
    if port_taken(host, port):
        _out(
            f"Port {port} on {host} is already in use (another Parley, or another program).",
            err=True,
        )
        _out(
            f"Pick another one:  PORT={port + 1} make run   (or: parley dev --port {port + 1})",
            err=True,
        )
        raise typer.Exit(1)
    # Ctrl-C is installed too: a shell that started us in the background left SIGINT ignored.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _interrupt)
    release()
    parley = console_script("parley")
    commands = {
        "web": [parley, "web", "--host", host, "--port", str(port)],
        "worker": [parley, "worker"],
        "beat": [parley, "beat"],
    }
    # Each part in its own process group: Ctrl-C reaches only this command, which stops the
    # parts in order (and can SIGKILL a whole group, worker processes included, if one hangs).
    # The demo sign-in exists only because this command asks for it (never in production).
    env = {**os.environ, "PARLEY_DEV_LOGIN": "true"}
    procs = {
        name: subprocess.Popen(argv, start_new_session=True, env=env)
        for name, argv in commands.items()
    }
    try:
        problem = _wait_ready(f"http://{host}:{port}/readyz", procs)
        if problem is not None:
            _out(f"Parley did not start: {problem}. See the logs above.", err=True)
            raise typer.Exit(1)
        _banner(host, port)
        while all(proc.poll() is None for proc in procs.values()):
            time.sleep(0.5)
        stopped = [name for name, proc in procs.items() if proc.poll() is not None]
        _out(f"`parley {stopped[0]}` exited; stopping the others.", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        _out("Stopping (turns in flight get a moment to finish)…", err=True)
    finally:
        _stop(procs)
