"""Parley's todo tools for external MCP clients: /mcp speaks streamable HTTP with the API's auth.

The bearer token (a password-flow or external JWT, or an API key) is checked through the MCP
SDK's auth hooks: `BearerAuthBackend` asks our `TokenVerifier` (the same rules as every /v1
route), `RequireAuthMiddleware` answers 401 without one, and `AuthContextMiddleware` leaves the
verified token where the tools read it. Each call acts for that token's user and no one else:
the server's `identify` ignores the client's `_meta` (no `user_id`, no ledger `call_key`). An API
key acts within its scopes: `list_tasks` needs tasks:read, the changes tasks:write.

Stateless JSON mode: no MCP session lives in a process, so any API process answers any request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware, get_access_token
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import State
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.security import principal_for_token
from shared.auth.schemas import SCOPES
from shared.auth.tokens import InvalidToken
from shared.tools.todo import Caller, build_todo_server

PATH = "/mcp"
# Every request needs a bearer token, which a page on a DNS-rebinding attacker's origin does not
# have; the SDK's default Host check would answer 421 to any deployment behind a real hostname.
_NO_HOST_CHECK = TransportSecuritySettings(enable_dns_rebinding_protection=False)


class PrincipalVerifier(TokenVerifier):
    """The API's own credentials as the SDK's access tokens: the user is the token's subject."""

    def __init__(self, state: State) -> None:
        self._state = state

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            principal = await principal_for_token(self._state, token)
        except InvalidToken:
            return None
        scopes = SCOPES if principal.scopes is None else tuple(sorted(principal.scopes))
        return AccessToken(
            token=token,
            client_id=principal.user_id,
            subject=principal.user_id,
            scopes=list(scopes),
            claims={"auth": principal.auth},
        )


def caller_from_token(_ctx: Context) -> Caller:
    """The verified token's user and scopes; whatever the client put in `_meta` plays no part."""
    token = get_access_token()
    if token is None or not token.subject:
        # Unreachable behind RequireAuthMiddleware; refuse rather than act for no one.
        raise ToolError("not authenticated")
    return Caller(token.subject, scopes=frozenset(token.scopes))


class _Endpoint:
    """/mcp's ASGI app: hands over to the app built in the lifespan (it needs the database)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guarded: ASGIApp = scope["app"].state.mcp
        await guarded(scope, receive, send)


def install(app: FastAPI) -> None:
    """Route /mcp itself (a Mount would answer /mcp with a 307 to /mcp/)."""
    app.router.routes.append(Route(PATH, _Endpoint(), include_in_schema=False))


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[None]:
    """Build the server on the app's database and run its session manager for the app's life."""
    server = build_todo_server(app.state.db, caller_from_token)
    http = server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        json_response=True,
        transport_security=_NO_HOST_CHECK,
    )
    app.state.mcp = AuthenticationMiddleware(
        AuthContextMiddleware(RequireAuthMiddleware(http, required_scopes=[])),
        backend=BearerAuthBackend(PrincipalVerifier(app.state)),
    )
    # The session manager's task group must run in the host app's lifespan (python-sdk #1467).
    async with server.session_manager.run():
        yield
