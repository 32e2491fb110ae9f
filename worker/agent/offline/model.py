"""`OfflineModel`: the rules behind the `ChatModel` protocol."""

from __future__ import annotations

import json

from worker.agent.model import (
    ChatMessage,
    DeltaCallback,
    ModelReply,
    RequestedToolCall,
    ToolSpec,
    Usage,
)
from worker.agent.offline.conversation import call_id, chunks, current_turn, offered
from worker.agent.offline.interpret import interpret
from worker.agent.offline.plan import Call, plan
from worker.agent.offline.recall import recall


class OfflineModel:
    """The `ChatModel` used when no OpenAI key is configured: rules in, real tool calls out."""

    name: str = "offline-rules"
    offline: bool = True

    async def complete(
        self, messages: list[ChatMessage], tools: list[ToolSpec], on_delta: DeltaCallback
    ) -> ModelReply:
        """Answer with the next planned tool call, or stream the final reply word by word."""
        turn = current_turn(messages)
        decision = plan(interpret(turn.request), turn.steps, offered(tools), recall(messages))
        if isinstance(decision, Call):
            call = RequestedToolCall(
                id=call_id(turn, len(turn.steps)),
                name=decision.name,
                arguments=json.dumps(decision.arguments),
            )
            return ModelReply(content="", tool_calls=[call], usage=Usage())
        for chunk in chunks(decision):
            await on_delta(chunk)
        return ModelReply(content=decision, usage=Usage())
