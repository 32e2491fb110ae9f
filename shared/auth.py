"""HS256 bearer tokens: the user is the token's `sub`; the algorithm is pinned."""

from __future__ import annotations

import datetime as dt

import jwt

from shared.config import Settings
from shared.schemas import check_text

ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The token is missing, malformed, expired, wrongly signed or unsigned."""


def issue_token(settings: Settings, user_id: str, ttl: dt.timedelta = dt.timedelta(days=7)) -> str:
    """A signed token for `user_id` (used by the dev CLI and tests)."""
    now = dt.datetime.now(dt.UTC)
    payload = {"sub": user_id, "iat": now, "exp": now + ttl}
    return jwt.encode(payload, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)


def user_from_token(settings: Settings, token: str) -> str:
    """The user id of a valid token; raises InvalidToken otherwise."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise InvalidToken("sub must be a non-empty string of at most 255 characters")
    try:
        return check_text(sub)
    except ValueError as exc:
        raise InvalidToken(f"sub {exc}") from None
