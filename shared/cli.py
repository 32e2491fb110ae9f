"""`parley`: the developer's entry point — run the whole stack locally, mint tokens, migrate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from shared.auth import issue_token
from shared.config import get_settings

app = typer.Typer(help="Parley: chat-turn orchestration for AI agents.", no_args_is_help=True)

ROOT = Path(__file__).resolve().parent.parent
DEMO_USER = "demo"


def _bin(name: str) -> str:
    """A console script of this virtualenv (beside the running interpreter)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _out(text: str) -> None:
    typer.echo(text)


@app.command()
def migrate() -> None:
    """Apply all database migrations (idempotent)."""
    subprocess.run([_bin("alembic"), "upgrade", "head"], check=True)


@app.command()
def release() -> None:
    """Prepare a deploy (the Procfile's `release`): migrate, then create the broker's tables."""
    from shared.celery_app import prepare_broker

    migrate()
    prepare_broker()


@app.command()
def token(
    user: str = typer.Argument(DEMO_USER, help="The user id (the token's sub)."),
    days: int = typer.Option(7, help="Days until the token expires."),
) -> None:
    """Print a bearer token for USER, signed with JWT_SECRET."""
    import datetime as dt

    _out(issue_token(get_settings(), user, dt.timedelta(days=days)))


def _wait_ready(url: str, procs: dict[str, subprocess.Popen[bytes]], timeout: float = 90) -> bool:
    """Wait until the API answers /readyz (so the banner's curl works the moment it shows)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs.values()):
            return False
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


@app.command()
def dev(
    port: int = typer.Option(int(os.environ.get("PORT", "8000")), help="API port."),
    host: str = typer.Option(os.environ.get("HOST", "127.0.0.1"), help="API address."),
    concurrency: int = typer.Option(50, help="Turns the worker holds in flight."),
) -> None:
    """Migrate, then run the API, a worker and beat together until Ctrl-C."""
    settings = get_settings()
    (ROOT / "var").mkdir(exist_ok=True)
    release()
    commands = {
        "web": [
            _bin("uvicorn"),
            "--timeout-graceful-shutdown",
            "10",
            "--factory",
            "api.main:app_factory",
            "--host",
            host,
            "--port",
            str(port),
        ],
        "worker": [
            _bin("celery"),
            "-A",
            "worker.app",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "-Q",
            "runs,webhooks,maintenance",
            "--prefetch-multiplier",
            "1",
            "--loglevel",
            "INFO",
        ],
        "beat": [
            _bin("celery"),
            "-A",
            "worker.app",
            "beat",
            "--loglevel",
            "WARNING",
            "--schedule",
            str(ROOT / "var" / "celerybeat-schedule"),
        ],
    }
    procs = {name: subprocess.Popen(cmd, cwd=ROOT) for name, cmd in commands.items()}
    if not _wait_ready(f"http://{host}:{port}/readyz", procs):
        _out("Parley did not become ready within 90 s; see the logs above.")
    demo = issue_token(settings, DEMO_USER)
    _out("")
    mode = "embedded" if settings.embedded else "services"
    _out(f"Parley is running at http://{host}:{port}  ({mode} mode)")
    _out(f"Model: {settings.model_description}")
    _out(f"Demo user token (user '{DEMO_USER}', valid 7 days):")
    _out(f"  export TOKEN={demo}")
    _out(
        f'Try:  curl -s -X POST http://{host}:{port}/v1/runs -H "Authorization: Bearer $TOKEN" '
        "-H 'Content-Type: application/json' -d '{\"message\": \"Add a task to buy milk\"}'"
    )
    _out("")

    def stop(*_: object) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    failed = [name for name, p in procs.items() if p.returncode not in (0, -signal.SIGTERM, None)]
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
