"""`parley`: run Parley's processes, the whole stack for development, and mint tokens."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from shared.cli.dev import DEMO_USER, dev
from shared.cli.parts import beat, flower, migrate, release, web, worker

app = typer.Typer(help="Parley: chat-turn orchestration for AI agents.", no_args_is_help=True)


def token(
    user: Annotated[str, typer.Argument(help="The user id (the token's sub).")] = DEMO_USER,
    days: Annotated[int, typer.Option(help="Days until the token expires.")] = 7,
) -> None:
    """Print a bearer token for USER, signed with JWT_SECRET."""
    from shared.auth import issue_token
    from shared.config import get_settings

    typer.echo(issue_token(get_settings(), user, dt.timedelta(days=days)))


for command in (dev, release, migrate, web, worker, beat, flower, token):
    app.command()(command)

__all__ = ["app"]
