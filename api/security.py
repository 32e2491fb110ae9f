"""Who is calling: a bearer token (password flow, HS256, external JWKS) or an API key.

`authenticate` is the one dependency every protected route runs (once per request, cached by
FastAPI); `require_scope` makes routers check an API key's scopes; `metrics_access` guards
/metrics with HTTP Basic. The WebSocket uses `principal_for_token` with the same rules.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from starlette.datastructures import State

from shared.auth import api_keys
from shared.auth.jwks import ALGORITHMS as JWKS_ALGORITHMS
from shared.auth.jwks import JwksVerifier
from shared.auth.tokens import (
    ALGORITHM,
    InvalidToken,
    check_subject,
    hs256_claims,
    is_password_token,
)
from shared.config import Settings
from shared.db import Database
from shared.errors import DomainError, Forbidden

AuthKind = Literal["password", "jwt", "api_key"]


class Unauthorized(Exception):
    """Rendered as 401 with WWW-Authenticate: Bearer."""


class BasicUnauthorized(DomainError):
    """401 asking for HTTP Basic credentials (operators' endpoints)."""

    status_code = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": 'Basic realm="parley-metrics", charset="UTF-8"'}


@dataclass(frozen=True)
class Principal:
    """The caller: a user id, how they signed in, and an API key's scopes (None: all)."""

    user_id: str
    auth: AuthKind
    scopes: frozenset[str] | None = None

    def require(self, scope: str) -> None:
        """Forbidden (403, naming the scope) unless the credentials carry `scope`."""
        if self.scopes is not None and scope not in self.scopes:
            raise Forbidden(f"this API key lacks the scope {scope}", required_scope=scope)


# Both schemes appear in the OpenAPI document: Swagger UI's "Authorize" then offers the
# password form (which posts to /v1/auth/token) and a plain bearer field (API keys, JWTs).
_oauth2 = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
_bearer = HTTPBearer(auto_error=False)


async def authenticate(
    request: Request,
    _password_flow: Annotated[str | None, Depends(_oauth2)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of this request; Unauthorized (401) for anything short of valid credentials."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(missing_bearer_reason(request))
    try:
        principal = await principal_for_token(request.app.state, credentials.credentials)
    except InvalidToken as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    request.state.principal = principal
    return principal


def missing_bearer_reason(request: Request) -> str:
    """Say what is wrong: no header at all, or a header without the `Bearer ` scheme."""
    if "authorization" not in request.headers:
        return "missing Authorization header: send `Authorization: Bearer <token>`"
    return "the Authorization header must be `Bearer <token>` (the word Bearer, a space, the token)"


async def principal_for_token(state: State, token: str) -> Principal:
    """The caller a bearer token stands for; InvalidToken if it stands for no one."""
    settings: Settings = state.settings
    if api_keys.looks_like_key(token):
        database: Database = state.db
        async with database.transaction() as session:
            row = await api_keys.find_live(session, token)
            if row is None:
                raise InvalidToken("unknown, revoked or expired API key")
            return Principal(row.user_id, "api_key", frozenset(row.scopes))
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken(str(exc).encode(errors="replace").decode()) from None
    if algorithm == ALGORITHM:
        claims = hs256_claims(settings, token)
        return Principal(claims["sub"], "password" if is_password_token(claims) else "jwt")
    verifier: JwksVerifier | None = getattr(state, "jwks", None)
    if verifier is None or algorithm not in JWKS_ALGORITHMS:
        raise InvalidToken(f"the algorithm {str(algorithm)[:20]!r} is not accepted")
    claims = await verifier.claims(token)
    return Principal(check_subject(claims), "jwt")


def require_scope(family: str) -> Callable[..., Awaitable[None]]:
    """A router dependency: `<family>:read` for GET/HEAD, `<family>:write` otherwise."""

    async def check(
        request: Request, principal: Annotated[Principal, Depends(authenticate)]
    ) -> None:
        reading = request.method in ("GET", "HEAD")
        principal.require(f"{family}:{'read' if reading else 'write'}")

    return check


def require_exact_scope(scope: str) -> Callable[..., Awaitable[None]]:
    """A router dependency needing one scope whatever the method (e.g. webhooks:manage)."""

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> None:
        principal.require(scope)

    return check


async def metrics_access(request: Request) -> None:
    """HTTP Basic for /metrics when METRICS_BASIC_AUTH is set; closed in production without it.

    The header is read by hand rather than through FastAPI's HTTPBasic, so the OpenAPI document
    does not claim /metrics always needs credentials (in development it does not).
    """
    settings: Settings = request.app.state.settings
    if settings.metrics_basic_auth is None:
        if settings.parley_env == "production":
            raise Forbidden("set METRICS_BASIC_AUTH=user:password to read /metrics in production")
        return
    expected = settings.metrics_basic_auth.get_secret_value().encode()
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise BasicUnauthorized("send HTTP Basic credentials (METRICS_BASIC_AUTH)")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BasicUnauthorized("malformed HTTP Basic credentials") from None
    # One constant-time comparison of the whole `user:password`: timing says nothing about
    # which part (or how much of it) was right.
    if not hmac.compare_digest(given, expected):
        raise BasicUnauthorized("wrong user or password")


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
