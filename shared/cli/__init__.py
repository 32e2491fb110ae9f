"""`parley`: run Parley's processes, the whole stack for development, mint tokens, and operate
it (runs, webhooks, users, purge, doctor)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from shared.cli.dev import DEMO_USER, dev
from shared.cli.doctor import doctor
from shared.cli.ops import runs_app, webhooks_app
from shared.cli.parts import beat, flower, migrate, release, web, worker
from shared.cli.users import purge, users_app

app = typer.Typer(help="Parley: chat-turn orchestration for AI agents.", no_args_is_help=True)


def token(
    user: Annotated[str, typer.Argument(help="The user id (the token's sub).")] = DEMO_USER,
    days: Annotated[int, typer.Option(help="Days until the token expires.")] = 7,
) -> None:
    """Print a bearer token for USER, signed with JWT_SECRET."""
    from shared.auth import issue_token
    from shared.config import get_settings

    typer.echo(issue_token(get_settings(), user, dt.timedelta(days=days)))


for command in (dev, release, migrate, web, worker, beat, flower, token, purge, doctor):
    app.command()(command)
app.add_typer(runs_app, name="runs")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(users_app, name="users")

__all__ = ["app"]
