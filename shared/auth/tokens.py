"""HS256 bearer tokens: the user is the token's `sub`; the algorithm is pinned."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt

from shared.config import Settings
from shared.schemas import check_text

ALGORITHM = "HS256"
# The password flow's access tokens say so, so /v1/me can tell them from tokens minted elsewhere.
PASSWORD_ISSUER = "parley"
ACCESS_TOKEN_TYPE = "access"


class InvalidToken(Exception):
    """The token is missing, malformed, expired, wrongly signed or unsigned."""


def issue_token(settings: Settings, user_id: str, ttl: dt.timedelta = dt.timedelta(days=7)) -> str:
    """A signed token for `user_id` (used by the dev CLI and tests)."""
    now = dt.datetime.now(dt.UTC)
    payload = {"sub": user_id, "iat": now, "exp": now + ttl}
    return jwt.encode(payload, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)


def issue_access_token(settings: Settings, user_id: str) -> tuple[str, int]:
    """The password flow's short-lived access token and its lifetime in seconds."""
    ttl = dt.timedelta(minutes=settings.access_token_minutes)
    now = dt.datetime.now(dt.UTC)
    payload = {
        "sub": user_id,
        "iat": now,
        "exp": now + ttl,
        "iss": PASSWORD_ISSUER,
        "typ": ACCESS_TOKEN_TYPE,
    }
    token = jwt.encode(payload, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)
    return token, int(ttl.total_seconds())


def hs256_claims(settings: Settings, token: str) -> dict[str, Any]:
    """The claims of a valid HS256 token with `exp` and a usable `sub`; InvalidToken otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub"]},
        )
    except (jwt.PyJWTError, ValueError) as exc:  # a lone surrogate fails to encode: ValueError
        raise InvalidToken(str(exc).encode(errors="replace").decode()) from None
    check_subject(claims)
    return claims


def check_subject(claims: dict[str, Any]) -> str:
    """The `sub` claim if it can be a user id (non-empty text of at most 255 characters)."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise InvalidToken("sub must be a non-empty string of at most 255 characters")
    try:
        return check_text(sub)
    except ValueError as exc:
        raise InvalidToken(f"sub {exc}") from None


def is_password_token(claims: dict[str, Any]) -> bool:
    return claims.get("iss") == PASSWORD_ISSUER and claims.get("typ") == ACCESS_TOKEN_TYPE


def user_from_token(settings: Settings, token: str) -> str:
    """The user id of a valid HS256 token; raises InvalidToken otherwise."""
    return check_subject(hs256_claims(settings, token))
