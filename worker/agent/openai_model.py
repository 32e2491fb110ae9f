"""Any OpenAI-compatible endpoint, streamed, with bounded retries before the first token, within
the limits toward the provider that all worker processes share (shared.provider.limits)."""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from dataclasses import dataclass, field
from typing import cast

import openai
from openai import AsyncOpenAI, omit
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)

from shared import telemetry
from shared.config import Settings
from shared.provider.limits import ProviderLimiter
from worker import metrics
from worker.agent import waiting
from worker.agent.model import (
    ChatMessage,
    DeltaCallback,
    ModelError,
    ModelReply,
    RequestedToolCall,
    ToolSpec,
    Usage,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
BASE_DELAY = 0.5
MAX_DELAY = 8.0


class OpenAIModel:
    """Chat completions over the `openai` SDK; retries 429/5xx/timeouts with jittered backoff."""

    offline = False

    def __init__(self, settings: Settings) -> None:
        assert settings.openai_api_key is not None
        self.name = settings.openai_model
        self.temperature: float | None = None
        self._client = AsyncOpenAI(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
            max_retries=0,  # retried here, where we know whether text was already streamed
            timeout=openai.Timeout(120.0, connect=5.0),
        )
        self.limiter = ProviderLimiter(settings)

    def variant(self, name: str | None, temperature: float | None) -> OpenAIModel:
        """This model with an agent's name and temperature (same client, same limits)."""
        other = copy.copy(self)
        other.name = name or self.name
        other.temperature = temperature
        return other

    async def complete(
        self, messages: list[ChatMessage], tools: list[ToolSpec], on_delta: DeltaCallback
    ) -> ModelReply:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            streamed = False

            async def tracking_delta(text: str) -> None:
                nonlocal streamed
                streamed = True
                await on_delta(text)

            try:
                async with self.limiter.call(waiting.report):
                    return await self._observed(messages, tools, tracking_delta)
            except ModelError as exc:
                retry_after = getattr(exc, "retry_after", None)
                if streamed or not getattr(exc, "retryable", False) or attempt == MAX_ATTEMPTS:
                    raise
                delay = retry_after if retry_after is not None else _backoff(attempt)
                log.warning("model call failed (%s); retry %d in %.2fs", exc.code, attempt, delay)
                telemetry.event("retry", {"error.type": exc.code, "parley.attempt": attempt})
                if exc.code == "llm_rate_limited" and retry_after is not None:
                    # Every worker process waits it out, not just this call: the next
                    # `limiter.call` anywhere sleeps until then (and says so in its run).
                    await self.limiter.block(retry_after)
                else:
                    await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _observed(
        self, messages: list[ChatMessage], tools: list[ToolSpec], on_delta: DeltaCallback
    ) -> ModelReply:
        """One request, counted and timed by outcome (worker.metrics); the limiter's wait is
        not part of its time."""
        began = time.monotonic()
        outcome, usage = "cancelled", Usage()
        try:
            reply = await self._stream_once(messages, tools, on_delta)
            outcome, usage = "ok", reply.usage
            return reply
        except ModelError as exc:
            outcome = exc.code
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            metrics.model_call(self.name, outcome, time.monotonic() - began, usage)

    async def _stream_once(
        self, messages: list[ChatMessage], tools: list[ToolSpec], on_delta: DeltaCallback
    ) -> ModelReply:
        try:
            stream = await self._client.chat.completions.create(
                model=self.name,
                messages=cast(list[ChatCompletionMessageParam], messages),
                tools=cast(list[ChatCompletionToolParam], tools) if tools else omit,
                temperature=self.temperature if self.temperature is not None else omit,
                stream=True,
                stream_options={"include_usage": True},
            )
        except openai.OpenAIError as exc:
            raise _map_error(exc) from exc
        except ValueError as exc:  # the SDK raises raw JSONDecodeError on a garbled body
            raise _RetryableModelError("llm_bad_response", "unreadable model response") from exc
        answer = _StreamedAnswer()
        try:
            async for chunk in stream:
                await answer.add(chunk, on_delta)
        except openai.OpenAIError as exc:
            raise _map_error(exc) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise _RetryableModelError(
                "llm_bad_response", f"unreadable stream from the model: {type(exc).__name__}"
            ) from exc
        finally:
            await stream.close()
        if not answer.finished:
            # The SDK ends a stream cut short before [DONE] silently: that is no answer.
            raise _RetryableModelError("llm_bad_response", "the model's stream ended early")
        return answer.reply()


@dataclass
class _StreamedAnswer:
    """What the chunks of one streamed answer add up to: text, tool calls, usage."""

    content: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, str]] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    finished: bool = False

    async def add(self, chunk: ChatCompletionChunk, on_delta: DeltaCallback) -> None:
        """Fold one chunk in; text deltas go on to `on_delta` as they come."""
        if chunk.usage is not None:
            self.usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for choice in chunk.choices:
            self.finished = self.finished or choice.finish_reason is not None
            delta = choice.delta
            if delta.content:
                self.content.append(delta.content)
                await on_delta(delta.content)
            for tc in delta.tool_calls or []:
                slot = self.calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function is not None:
                    slot["name"] += tc.function.name or ""
                    slot["arguments"] += tc.function.arguments or ""

    def reply(self) -> ModelReply:
        tool_calls = [
            RequestedToolCall(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["arguments"])
            for i, c in sorted(self.calls.items())
            if c["name"]
        ]
        return ModelReply(content="".join(self.content), tool_calls=tool_calls, usage=self.usage)


class _RetryableModelError(ModelError):
    retryable = True

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


def _map_error(exc: openai.OpenAIError) -> ModelError:
    """SDK errors → run error codes; transient ones are marked retryable."""
    if isinstance(exc, openai.RateLimitError):
        return _RetryableModelError(
            "llm_rate_limited", "the model endpoint is rate limiting", _retry_after(exc)
        )
    if isinstance(exc, openai.APITimeoutError):
        return _RetryableModelError("llm_unavailable", "the model endpoint timed out")
    if isinstance(exc, openai.APIConnectionError):
        return _RetryableModelError("llm_unavailable", "the model endpoint is unreachable")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return _RetryableModelError(
                "llm_unavailable",
                f"the model endpoint answered {exc.status_code}",
                _retry_after(exc),
            )
        return ModelError(
            "llm_bad_response", f"the model endpoint refused the request ({exc.status_code})"
        )
    return ModelError("llm_bad_response", f"unexpected model response: {type(exc).__name__}")


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after")
    try:
        return min(float(value), MAX_DELAY) if value is not None else None
    except ValueError:
        return None


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1)))
