"""Users and passwords: registration, login with throttling, and refresh-token families.

Services never commit. A failed login and a detected refresh-token reuse must be remembered
even though the request fails, so these functions report failure as a value and the route
commits before it answers 401.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth.models import LoginFailure, RefreshToken, User
from shared.auth.passwords import hash_password, verify_password
from shared.auth.tokens import issue_access_token
from shared.config import Settings
from shared.db import utcnow
from shared.errors import Conflict, RateLimited
from shared.ids import new_id

REFRESH_PREFIX = "prt_"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str


def normalize_username(username: str) -> str:
    """Lower-cased and storable: NUL and lone surrogates become '?' (never in a real username),
    so a hostile login form cannot break a query."""
    cleaned = username.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "?")
    return cleaned.strip().lower()[:254]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="replace")).hexdigest()


async def register(session: AsyncSession, username: str, password: str) -> User:
    """A new user; Conflict (409) if the username is taken."""
    name = normalize_username(username)
    if await session.scalar(select(User.id).where(User.username == name)) is not None:
        raise Conflict("username is already taken")
    user = User(username=name, password_hash=await hash_password(password))
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # registered by a concurrent request since the check above
        raise Conflict("username is already taken") from None
    return user


async def user_by_id(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def check_throttle(
    session: AsyncSession, settings: Settings, username: str, address: str
) -> None:
    """RateLimited (429 + Retry-After) while too many logins failed for the name or address."""
    window = dt.timedelta(seconds=settings.login_failure_window_seconds)
    since = utcnow() - window
    for column, value, limit in (
        (
            LoginFailure.username,
            normalize_username(username),
            settings.login_max_failures_per_username,
        ),
        (LoginFailure.address, address, settings.login_max_failures_per_address),
    ):
        recent = select(LoginFailure.created_at).where(
            column == value, LoginFailure.created_at >= since
        )
        count = await session.scalar(select(func.count()).select_from(recent.subquery())) or 0
        if count < limit:
            continue
        # Free again when the failure that tipped it over leaves the window.
        tipping = await session.scalar(
            recent.order_by(LoginFailure.created_at.desc()).offset(limit - 1).limit(1)
        )
        wait = (tipping + window - utcnow()).total_seconds() if tipping else window.total_seconds()
        raise RateLimited("too many failed sign-ins; try again later", math.ceil(max(1.0, wait)))


async def authenticate(
    session: AsyncSession, username: str, password: str, address: str
) -> User | None:
    """The user if the password is right; None (and a recorded failure) otherwise.

    An unknown user costs the same Argon2 verification as a wrong password.
    """
    name = normalize_username(username)
    user = (await session.execute(select(User).where(User.username == name))).scalar_one_or_none()
    ok = await verify_password(password, user.password_hash if user is not None else None)
    if user is None or not ok or user.disabled:
        await record_failure(session, username, address)
        return None
    await session.execute(delete(LoginFailure).where(LoginFailure.username == name))
    return user


async def record_failure(session: AsyncSession, username: str, address: str) -> None:
    session.add(LoginFailure(username=normalize_username(username), address=address[:64]))
    await session.flush()


async def start_session(session: AsyncSession, settings: Settings, user_id: str) -> TokenPair:
    """An access token and the first refresh token of a new family."""
    return await _issue(session, settings, user_id, new_id("rtf"))


async def _issue(session: AsyncSession, settings: Settings, user_id: str, family: str) -> TokenPair:
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user_id,
            family_id=family,
            token_hash=token_hash(refresh),
            expires_at=utcnow() + dt.timedelta(days=settings.refresh_token_days),
        )
    )
    await session.flush()
    access, expires_in = issue_access_token(settings, user_id)
    return TokenPair(access, expires_in, refresh)


async def rotate(session: AsyncSession, settings: Settings, refresh: str) -> TokenPair | None:
    """The next pair for a live refresh token, or None.

    A token that was already rotated (or revoked) is being replayed — by a thief or by the
    owner after a thief used it: either way the whole family is revoked.
    """
    row = (
        await session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash(refresh))
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    now = utcnow()
    if row.used_at is not None or row.revoked_at is not None:
        await revoke_family(session, row.family_id)
        return None
    if row.expires_at <= now:
        return None
    user = await session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    # Guarded: of two concurrent uses of one token, only one rotates; the other is a reuse.
    claimed = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await revoke_family(session, row.family_id)
        return None
    return await _issue(session, settings, row.user_id, row.family_id)


async def revoke(session: AsyncSession, refresh: str) -> None:
    """Sign out: the token's whole family stops working (unknown tokens are ignored)."""
    family = await session.scalar(
        select(RefreshToken.family_id).where(RefreshToken.token_hash == token_hash(refresh))
    )
    if family is not None:
        await revoke_family(session, family)


async def revoke_family(session: AsyncSession, family_id: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
