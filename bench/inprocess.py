"""The in-process baseline: Parley's agent loop called directly, with no API, broker or worker.

The same AgentLoop, OpenAIModel (pointed at the same fake LLM), todo MCP server (in memory) and
database as a worker turn, so what Parley adds on top is the orchestration: HTTP, the queued
row, the broker, the claim, persistence of the ending, the notification and the long-poll.
The MCP server is built once and each turn opens its own session on it, as a caller that
cares about latency would; what building it costs per turn is measured apart (`setup_costs`).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

from mcp import Client
from pydantic import SecretStr

import shared.models  # noqa: F401  (registers every table for the foreign keys)
from shared.config import Settings
from shared.conversations.models import Conversation
from shared.db import Database, utcnow
from shared.runs import states
from shared.runs.models import Run
from shared.tools.todo import build_todo_server
from worker.agent.loop import AgentLoop, Turn, TurnState
from worker.agent.openai_model import OpenAIModel

# The fixture runs look held by a live worker, so the stack's sweeper leaves them alone.
FIXTURE_LEASE = dt.timedelta(hours=6)


class InProcessAgent:
    """Runs turns through AgentLoop in this process, on its own engine and model client."""

    def __init__(self, database_url: str, llm_base_url: str, pool_size: int = 20) -> None:
        settings = Settings(
            database_url=database_url,
            redis_url=None,
            openai_api_key=SecretStr("bench"),
            openai_base_url=llm_base_url,
        )
        self.database = Database(database_url, pool_size=pool_size)
        self.agent = AgentLoop(self.database, OpenAIModel(settings), settings.agent_max_steps)
        self.server = build_todo_server(self.database)
        self.user_id = f"bench-inproc-{uuid.uuid4().hex[:8]}"

    async def prepare(self, message: str) -> Turn:
        """A conversation and a claimed run to attach the turn's ledger rows to (not timed)."""
        async with self.database.transaction() as session:
            conversation = Conversation(user_id=self.user_id, title="bench")
            session.add(conversation)
            await session.flush()
            run = Run(
                user_id=self.user_id,
                conversation_id=conversation.id,
                status=states.IN_PROGRESS,
                input={"message": message},
                lease_token="bench",
                lease_until=utcnow() + FIXTURE_LEASE,
                attempts=1,
                started_at=utcnow(),
            )
            session.add(run)
        return Turn(run.id, self.user_id, conversation.id, message)

    async def run(self, turn: Turn) -> str:
        """One turn, as a worker drives it: a fresh MCP session, then the loop to its answer."""

        async def on_delta(_text: str) -> None:
            return None

        async with Client(self.server) as client:
            return await self.agent.run(turn, client, TurnState(), on_delta)

    async def timed(self, message: str) -> tuple[float, str]:
        """Seconds the turn took (preparation excluded) and its answer."""
        turn = await self.prepare(message)
        started = time.perf_counter()
        answer = await self.run(turn)
        return time.perf_counter() - started, answer

    async def setup_costs(self, samples: int) -> tuple[list[float], list[float]]:
        """Seconds to build the todo MCP server, and to open and close a session on one."""
        builds: list[float] = []
        sessions: list[float] = []
        for _ in range(samples):
            started = time.perf_counter()
            build_todo_server(self.database)
            builds.append(time.perf_counter() - started)
            started = time.perf_counter()
            async with Client(self.server):
                pass
            sessions.append(time.perf_counter() - started)
        return builds, sessions

    async def close(self) -> None:
        await self.database.dispose()
