"""`parley users create|disable` and `parley purge`: accounts and old data, for operators."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

import typer
from sqlalchemy import delete, func, select, update

from shared.cli.ops import in_unit_of_work

users_app = typer.Typer(help="Password accounts (the sign-in of POST /v1/auth/token).")

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> dt.timedelta:
    """`30d`, `12h`, `90m` or `3600s`."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r}: use a number and a unit, like 30d, 12h, 90m or 600s")
    return dt.timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@users_app.command("create")
def create_user(
    username: Annotated[str, typer.Argument(help="The new account's username.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="PARLEY_USER_PASSWORD",
            help="Asked for when not given (PARLEY_USER_PASSWORD keeps it out of `ps`).",
        ),
    ],
) -> None:
    """Create a password account, even while AUTH_REGISTRATION is closed; prints its id."""
    from shared.auth import service

    async def work(uow: Any) -> str:
        user = await service.register(uow.session, username, password)
        await uow.session.flush()
        return str(user.id)

    typer.echo(in_unit_of_work(work))


@users_app.command("disable")
def disable_user(username: Annotated[str, typer.Argument(help="The account's username.")]) -> None:
    """Refuse the account's logins and refreshes, and revoke its API keys and refresh tokens
    (access tokens already issued stay valid until they expire, ACCESS_TOKEN_MINUTES)."""
    from shared.auth.models import ApiKey, RefreshToken, User
    from shared.auth.service import normalize_username
    from shared.db import utcnow
    from shared.errors import NotFound

    async def work(uow: Any) -> tuple[str, int]:
        session = uow.session
        user = await session.scalar(
            select(User).where(User.username == normalize_username(username))
        )
        if user is None:
            raise NotFound(f"no user named {username!r}")
        user.disabled = True
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        keys = await session.execute(delete(ApiKey).where(ApiKey.user_id == user.id))
        return str(user.id), int(keys.rowcount)

    user_id, keys = in_unit_of_work(work)
    typer.echo(f"{user_id}: disabled ({keys} API key(s) revoked)")


def purge(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age, like 90d or 12h: older data goes.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Delete; without it, only count.")] = False,
) -> None:
    """Delete conversations untouched for longer than --older-than (with their messages, runs,
    events and webhook deliveries) unless a turn of theirs is still active, and expired
    sign-in leftovers. Without --yes it only says what it would delete."""
    from shared.auth.models import LoginFailure, RefreshToken
    from shared.conversations.models import Conversation
    from shared.db import utcnow
    from shared.runs import states
    from shared.runs.models import Run

    cutoff = utcnow() - parse_duration(older_than)

    async def work(uow: Any) -> dict[str, int]:
        session = uow.session
        active = select(Run.conversation_id).where(Run.status.in_(states.ACTIVE))
        old = (Conversation.updated_at < cutoff) & Conversation.id.not_in(active)
        targets: dict[str, tuple[Any, Any]] = {
            "conversations": (Conversation, old),
            "refresh_tokens": (RefreshToken, RefreshToken.expires_at < cutoff),
            "login_failures": (LoginFailure, LoginFailure.created_at < cutoff),
        }
        counts = {}
        for name, (model, condition) in targets.items():
            if yes:
                result = await session.execute(delete(model).where(condition))
                counts[name] = int(result.rowcount)
            else:
                query = select(func.count()).select_from(model).where(condition)
                counts[name] = int(await session.scalar(query) or 0)
        return counts

    counts = in_unit_of_work(work)
    verb = "deleted" if yes else "would delete (add --yes)"
    typer.echo(f"{verb}: " + ", ".join(f"{n} {name}" for name, n in counts.items()))
