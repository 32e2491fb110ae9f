"""One WebSocket per client for live turns: subscribe to runs, create runs, receive events.

Protocol (docs/api.md section 5): authenticate with `?token=` or a first message
`{"type": "auth", "token"}`; then send `{"type": "subscribe", "run_id", "after"?}`,
`{"type": "unsubscribe", "run_id"}` or `{"type": "run.create", …POST /v1/runs body}`. The server
pushes `{"type", "id", "run_id", "data"}` events, the same as SSE, for any number of runs at
once. A request the server cannot act on (unknown or foreign run, invalid run body, busy
conversation, rate limit) answers `{"type": "error", "run_id", "data": {"status", "detail"}}`
and the socket stays open; a message that breaks the protocol closes it with 4400, bad or
missing credentials with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from api.security import Principal, principal_for_token
from shared.auth import InvalidToken
from shared.db import Database
from shared.errors import DomainError
from shared.events.hub import EventHub
from shared.runs import service as runs_service
from shared.runs.schemas import RunCreate
from shared.schemas import check_text
from shared.uow import unit_of_work

router = APIRouter(tags=["events"])
log = logging.getLogger(__name__)

CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHORIZED = 4401
AUTH_TIMEOUT_SECONDS = 10.0
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_SUBSCRIPTIONS = 100
MAX_RUN_ID = 64
MAX_EVENT_ID = 2**31 - 1


class ProtocolError(Exception):
    """The client broke the protocol: close with 4400."""


@router.websocket("/v1/ws")
async def live_socket(websocket: WebSocket) -> None:
    """Live events of any number of runs over one socket."""
    await websocket.accept()
    principal = await _authenticate(websocket)
    if principal is None:
        return
    await LiveSocket(websocket, principal).serve()


async def _authenticate(websocket: WebSocket) -> Principal | None:
    """The user of `?token=` or of the first message; closes with 4401 and returns None if bad."""
    token = websocket.query_params.get("token")
    if token is None:
        try:
            async with asyncio.timeout(AUTH_TIMEOUT_SECONDS):
                first = _parse(await websocket.receive_text())
        except (TimeoutError, ProtocolError, WebSocketDisconnect, KeyError):
            first = {}
        token = first.get("token") if first.get("type") == "auth" else None
    principal = await _principal(websocket, token)
    if principal is None:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(CLOSE_UNAUTHORIZED, "invalid or missing token")
    return principal


async def _principal(websocket: WebSocket, token: Any) -> Principal | None:
    """Any bearer credential the HTTP routes accept (token or API key), or None."""
    if not isinstance(token, str) or not token:
        return None
    try:
        return await principal_for_token(websocket.app.state, token)
    except (InvalidToken, DBAPIError, OSError):
        return None


def _parse(raw: str) -> dict[str, Any]:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError("message too large")
    try:
        message = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("messages must be JSON objects") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("messages must be JSON objects with a string `type`")
    return message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class LiveSocket:
    """One authenticated socket: its subscriptions, each a task following one run."""

    def __init__(self, websocket: WebSocket, principal: Principal) -> None:
        self.websocket = websocket
        self.principal = principal
        self.user = principal.user_id
        state = websocket.app.state
        self.database: Database = state.db
        self.hub: EventHub = state.events
        self.ping_seconds: float = state.settings.event_ping_seconds
        self.followers: dict[str, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()

    async def serve(self) -> None:
        """Handle the client's messages until it leaves or breaks the protocol."""
        try:
            while True:
                message = _parse(await self.websocket.receive_text())
                await self._handle(message)
        except ProtocolError as exc:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.websocket.close(CLOSE_BAD_MESSAGE, _reason(str(exc)))
        except WebSocketDisconnect:
            pass
        except KeyError:  # a binary frame: receive_text found no text
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.websocket.close(CLOSE_BAD_MESSAGE, "messages must be text")
        finally:
            for task in self.followers.values():
                task.cancel()
            for task in list(self.followers.values()):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _handle(self, message: dict[str, Any]) -> None:
        """Act on one message; ProtocolError for anything the protocol does not allow."""
        kind = message["type"]
        if kind == "subscribe":
            run_id = _run_id(message)
            after = message.get("after", 0)
            if (
                isinstance(after, bool)
                or not isinstance(after, int)
                or not 0 <= after <= MAX_EVENT_ID
            ):
                raise ProtocolError("`after` must be a non-negative integer")
            await self._subscribe(run_id, after)
        elif kind == "unsubscribe":
            task = self.followers.pop(_run_id(message), None)
            if task is not None:
                task.cancel()
        elif kind == "run.create":
            await self._create(message)
        elif kind == "auth":
            again = await _principal(self.websocket, message.get("token"))
            if again is None or again.user_id != self.user:
                raise ProtocolError("a socket stays with the user it authenticated as")
        elif kind == "ping":
            await self._send({"type": "pong"})
        else:
            raise ProtocolError(f"unknown message type {kind[:40]!r}")

    async def _subscribe(self, run_id: str, after: int) -> None:
        if run_id in self.followers:
            return
        if not await self._allowed(run_id, "runs:read"):
            return
        if len(self.followers) >= MAX_SUBSCRIPTIONS:
            await self._error(run_id, 429, f"at most {MAX_SUBSCRIPTIONS} runs per socket")
            return
        try:
            async with self.database.sessions() as session:
                await runs_service.get(session, self.user, run_id)
        except DomainError as exc:
            await self._error(run_id, exc.status_code, exc.detail)
            return
        except (DBAPIError, OSError):
            await self._error(run_id, 503, "database unavailable, retry shortly")
            return
        self.followers[run_id] = asyncio.create_task(self._follow(run_id, after))

    async def _create(self, message: dict[str, Any]) -> None:
        fields = {k: v for k, v in message.items() if k != "type"}
        try:
            body = RunCreate.model_validate(fields)
        except ValidationError as exc:
            detail = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            await self._send(
                {"type": "error", "run_id": None, "data": {"status": 422, "detail": detail}}
            )
            return
        if not await self._allowed(None, "runs:write"):
            return
        limiter = getattr(self.websocket.app.state, "limiter", None)
        try:
            async with unit_of_work(self.database) as uow:
                run, _ = await runs_service.submit(
                    uow.session, uow.dispatcher, self.user, body, None, limiter
                )
        except DomainError as exc:
            data = {"status": exc.status_code, "detail": exc.detail, **exc.extra}
            await self._send({"type": "error", "run_id": None, "data": data})
            return
        except (DBAPIError, OSError):
            await self._error(None, 503, "database unavailable, retry shortly")
            return
        await self._subscribe(run.id, 0)

    async def _follow(self, run_id: str, after: int) -> None:
        try:
            async for event in self.hub.follow(run_id, after, self.ping_seconds):
                if event is not None:  # the socket keeps itself alive with protocol pings
                    await self._send(event.to_wire())
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        except Exception:
            log.exception("run %s: socket follower failed", run_id)
            await self._error(run_id, 500, "the event stream failed; subscribe again")
        finally:
            if self.followers.get(run_id) is asyncio.current_task():
                del self.followers[run_id]

    async def _allowed(self, run_id: str | None, scope: str) -> bool:
        """Whether the socket's credentials carry `scope`; if not, say so (403) and go on."""
        try:
            self.principal.require(scope)
        except DomainError as exc:
            await self._send(
                {"type": "error", "run_id": run_id, "data": {"status": 403, "detail": exc.detail}}
            )
            return False
        return True

    async def _error(self, run_id: str | None, status: int, detail: str) -> None:
        await self._send(
            {"type": "error", "run_id": run_id, "data": {"status": status, "detail": detail}}
        )

    async def _send(self, payload: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_text(json.dumps(payload, separators=(",", ":")))


def _reason(text: str) -> str:
    """A close reason within the protocol's 123 bytes (a lone surrogate becomes '?')."""
    return text.encode(errors="replace")[:120].decode(errors="ignore")


def _run_id(message: dict[str, Any]) -> str:
    run_id = message.get("run_id")
    if not isinstance(run_id, str) or not 0 < len(run_id) <= MAX_RUN_ID:
        raise ProtocolError("`run_id` must be a run id string")
    try:
        # NUL or a lone surrogate cannot be a run id, and the database cannot even compare them.
        return check_text(run_id)
    except ValueError as exc:
        raise ProtocolError(f"`run_id` {exc}") from None
