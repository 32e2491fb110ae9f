"""The OpenAI-compatible Responses API, driven by the official `openai` SDK against a real stack."""

from __future__ import annotations

import contextlib
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.responses import Response, ResponseCompletedEvent
from openai.types.responses.response_output_item import McpCall

from tests.api.conftest import SUBMITS_PER_MINUTE, count
from tests.api.test_auth import BAD_AUTH
from tests.stack import BIN, Stack, free_port, make_token

TERMINAL = ("completed", "failed", "cancelled", "incomplete")


def completed_response(event: object) -> Response:
    """The Response a stream's `response.completed` event carries."""
    assert isinstance(event, ResponseCompletedEvent), event
    return event.response


def sdk(stack: Stack, user: str | None = None, *, token: str | None = None) -> OpenAI:
    """The official client, pointed at Parley, as one user (no retries: tests see each answer)."""
    api_key = token or make_token(user or f"user-{uuid.uuid4().hex[:10]}")
    return OpenAI(base_url=f"{stack.api_url}/v1", api_key=api_key, max_retries=0, timeout=90)


@pytest.fixture
def client(stack: Stack) -> Iterator[OpenAI]:
    with sdk(stack) as c:
        yield c


def poll(client: OpenAI, response_id: str, seconds: float = 30) -> Response:
    deadline = time.monotonic() + seconds
    while True:
        response = client.responses.retrieve(response_id)
        if response.status in TERMINAL:
            return response
        assert time.monotonic() < deadline, f"{response_id} still {response.status}"
        time.sleep(0.1)


def test_background_response_runs_the_tool_and_polls_to_completed(
    client: OpenAI, stack: Stack
) -> None:
    created = client.responses.create(
        model="parley", input="Add a task to buy milk", background=True, metadata={"k": "v"}
    )
    # Answered before the end: the turn is still to run.
    assert created.object == "response" and created.status in ("queued", "in_progress")
    assert created.background is True and created.metadata == {"k": "v"}

    done = poll(client, created.id)
    assert done.status == "completed" and done.error is None
    assert done.id == created.id and done.model == "parley"
    calls = [item for item in done.output if item.type == "mcp_call"]
    assert [(c.name, c.server_label, c.status) for c in calls] == [
        ("add_task", "parley", "completed")
    ]
    assert '"buy milk"' in calls[0].arguments and '"created"' in (calls[0].output or "")
    assert done.output[-1].type == "message" and "buy milk" in done.output_text
    assert done.usage is not None and done.usage.total_tokens > 0
    assert done.completed_at is not None and done.created_at <= done.completed_at

    # The same turn is a run, and the task is real.
    with stack.client() as raw:
        raw.headers["Authorization"] = f"Bearer {client.api_key}"
        # Field by field what the SDK's model declares (the SDK itself parses leniently).
        Response.model_validate(raw.get(f"/v1/responses/{created.id}").json())
        run = raw.get(f"/v1/runs/{created.id}").json()
        assert run["status"] == "completed" and run["output"]["response"] == done.output_text
        assert [t["title"] for t in raw.get("/v1/tasks").json()["data"]] == ["buy milk"]


def test_create_without_background_waits_for_the_end(client: OpenAI) -> None:
    done = client.responses.create(
        model="gpt-4o-mini",  # any name means the default agent
        input=[{"role": "user", "content": [{"type": "input_text", "text": "hello"}]}],
    )
    assert done.status == "completed" and done.output_text == "You said: hello"
    assert done.previous_response_id is None and done.model == "parley"


def test_previous_response_id_continues_the_conversation(client: OpenAI, stack: Stack) -> None:
    first = client.responses.create(model="parley", input="Add a task to call mom")
    second = client.responses.create(
        model="parley", input="list my tasks", previous_response_id=first.id
    )
    assert second.status == "completed" and "call mom" in second.output_text
    assert second.previous_response_id == first.id
    assert second.conversation is not None and first.conversation is not None
    assert second.conversation.id == first.conversation.id
    # The model saw the earlier turn, not just this message.
    sent = [
        r
        for r in stack.llm.requests
        if any(m.get("content") == "list my tasks" for m in r["messages"])
    ][0]
    contents = [m.get("content") for m in sent["messages"]]
    assert "Add a task to call mom" in contents and first.output_text in contents
    assert client.responses.retrieve(second.id).previous_response_id == first.id


def expected_types(deltas: int) -> list[str]:
    return [
        "response.created",
        "response.queued",
        "response.in_progress",
        "response.output_item.added",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]


def test_stream_yields_the_events_in_order_and_the_deltas_add_up(client: OpenAI) -> None:
    stream = client.responses.create(
        model="parley", input="Add a task to water plants", stream=True
    )
    events = list(stream)
    types = [e.type for e in events]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) >= 1 and types == expected_types(len(deltas))
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(set(numbers)) and numbers[0] == 0

    final = completed_response(events[-1])
    assert final.status == "completed" and "".join(deltas) == final.output_text
    call, message = final.output
    assert isinstance(call, McpCall) and call.name == "add_task"
    added = [e.item for e in events if e.type == "response.output_item.added"]
    assert [i.id for i in added] == [call.id, message.id]
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_the_sdk_stream_helper_assembles_the_final_response(client: OpenAI) -> None:
    with client.responses.stream(model="parley", input="[[stream=4,0.02]] hi") as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert len(texts) == 4 and final.output_text == "".join(texts) == "chunk1 chunk2 chunk3 chunk4"

    # With a tool call, the helper's item bookkeeping (indexes, ids) must agree with ours.
    with client.responses.stream(model="parley", input="Add a task to water the ferns") as stream:
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["mcp_call", "message"]
    assert "water the ferns" in final.output_text


@contextlib.contextmanager
def second_api(stack: Stack) -> Iterator[str]:
    """Another API process of the same stack: resuming must not depend on which one answers."""
    port = free_port()
    stack.start_proc(
        "web-2",
        [
            str(BIN / "uvicorn"),
            "--factory",
            "api.main:app_factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--timeout-graceful-shutdown",
            "3",
            "--log-level",
            "warning",
        ],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, stack.procs["web-2"].log()[-4000:]
            time.sleep(0.1)
        yield url
    finally:
        stack.kill("web-2", signal.SIGTERM)


def test_stream_resumes_after_a_sequence_number_and_replays_after_the_end(
    client: OpenAI, stack: Stack
) -> None:
    with second_api(stack) as other_url:
        created = client.responses.create(
            model="parley", input="[[stream=8,0.5]] tell me", background=True
        )
        head: list[Any] = []
        with client.responses.retrieve(created.id, stream=True) as stream:
            for event in stream:
                head.append(event)
                if event.type == "response.output_text.delta":
                    break  # the client goes away mid-reply
        cut = head[-1].sequence_number
        # ...and comes back to another API process while the reply is still being written.
        other = client.with_options(base_url=f"{other_url}/v1")
        assert other.responses.retrieve(created.id).status == "in_progress"
        tail = list(other.responses.retrieve(created.id, stream=True, starting_after=cut))
    assert tail and all(e.sequence_number > cut for e in tail)
    assert tail[-1].type == "response.completed"
    resumed = head + tail
    # After the end, the whole stream replays with the same numbers and payloads.
    replay = list(client.responses.retrieve(created.id, stream=True))
    assert [e.to_dict() for e in replay] == [e.to_dict() for e in resumed]
    text = "".join(e.delta for e in resumed if e.type == "response.output_text.delta")
    assert (
        text
        == completed_response(replay[-1]).output_text
        == "chunk1 chunk2 chunk3 chunk4 chunk5 chunk6 chunk7 chunk8"
    )
    last = replay[-1].sequence_number
    assert list(client.responses.retrieve(created.id, stream=True, starting_after=last)) == []


def test_cancel_stops_a_slow_background_response(client: OpenAI) -> None:
    created = client.responses.create(model="parley", input="[[latency=20]] slow", background=True)
    deadline = time.monotonic() + 10
    while client.responses.retrieve(created.id).status == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    cancelled = client.responses.cancel(created.id)
    assert cancelled.id == created.id and cancelled.status in ("in_progress", "cancelled")
    assert poll(client, created.id, seconds=10).status == "cancelled"
    assert time.monotonic() - started < 10
    with pytest.raises(openai.ConflictError):
        client.responses.cancel(created.id)
    events = list(client.responses.retrieve(created.id, stream=True))
    # SDK 3.57 has no model for response.cancelled: it arrives as an untyped event.
    assert str(events[-1].type) == "response.cancelled"


def test_cancel_of_a_queued_response_is_immediate(client: OpenAI) -> None:
    first = client.responses.create(model="parley", input="[[latency=3]] slow", background=True)
    # Queued behind the first turn of its conversation: cancelled at once, never run.
    second = client.responses.create(
        model="parley", input="hello", previous_response_id=first.id, background=True
    )
    assert second.status == "queued"
    cancelled = client.responses.cancel(second.id)
    assert cancelled.status == "cancelled" and cancelled.previous_response_id == first.id
    assert poll(client, first.id).status == "completed"
    assert client.responses.retrieve(second.id).status == "cancelled"


def test_delete_removes_a_finished_response(client: OpenAI) -> None:
    done = client.responses.create(model="parley", input="hello there")
    slow = client.responses.create(model="parley", input="[[latency=5]] slow", background=True)
    with pytest.raises(openai.ConflictError):
        client.responses.delete(slow.id)
    client.responses.delete(done.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(done.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(done.id)
    client.responses.cancel(slow.id)


def test_someone_elses_or_unknown_id_is_not_found(client: OpenAI, stack: Stack) -> None:
    mine = client.responses.create(model="parley", input="hello")
    with sdk(stack) as stranger:
        for call in (
            lambda: stranger.responses.retrieve(mine.id),
            lambda: stranger.responses.retrieve(mine.id, stream=True),
            lambda: stranger.responses.cancel(mine.id),
            lambda: stranger.responses.delete(mine.id),
            lambda: stranger.responses.retrieve("resp_unknown"),
        ):
            with pytest.raises(openai.NotFoundError) as caught:
                call()
            assert caught.value.code is None and caught.value.type == "invalid_request_error"
        with pytest.raises(openai.NotFoundError) as caught:
            stranger.responses.create(model="parley", input="hi", previous_response_id=mine.id)
        assert caught.value.param == "previous_response_id"
    assert client.responses.retrieve(mine.id).status == "completed"


# Signing HS512 with the (HS256-sized) test secret warns; the token must be refused anyway.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_every_bad_token_is_refused_in_openai_shape(stack: Stack) -> None:
    user = f"user-{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=stack.api_url, timeout=30) as anon:
        for kind, make in BAD_AUTH.items():
            header = make(user)
            headers = {} if header is None else {"Authorization": header}
            refused = anon.post("/v1/responses", json={"input": "hi"}, headers=headers)
            assert refused.status_code == 401, (kind, refused.text)
            assert refused.headers["WWW-Authenticate"] == "Bearer", kind
            assert refused.json()["error"]["code"] == "invalid_api_key", kind
    assert count(stack, "runs", user_id=user) == 0


def test_bad_token_is_an_authentication_error_in_the_sdk(stack: Stack) -> None:
    for token in ("not-a-jwt", make_token("someone", ttl=-60), make_token("x", secret="no" * 20)):
        with sdk(stack, token=token) as bad:
            with pytest.raises(openai.AuthenticationError) as caught:
                bad.responses.create(model="parley", input="hi")
            with pytest.raises(openai.AuthenticationError):
                bad.responses.retrieve("run_x")
        assert caught.value.code == "invalid_api_key"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": [{"role": "assistant", "content": "earlier"}]}, "input"),
        ({"input": "hi", "instructions": "Talk like a pirate"}, "instructions"),
        ({"input": "hi", "tools": [{"type": "web_search"}]}, "tools"),
        ({"input": "   "}, "input"),
        ({"input": "hi", "store": False}, "store"),
    ],
)
def test_unsupported_input_is_a_bad_request(
    client: OpenAI, body: dict[str, Any], param: str
) -> None:
    extra = {k: v for k, v in body.items() if k != "input"}
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="parley", input=body["input"], extra_body=extra)
    assert caught.value.param == param and caught.value.message


def test_errors_have_openai_shape_here_and_detail_elsewhere(stack: Stack) -> None:
    with httpx.Client(base_url=stack.api_url) as anon:
        mine = anon.get("/v1/responses/resp_x")
        assert mine.status_code == 401
        assert set(mine.json()["error"]) == {"message", "type", "param", "code"}
        assert set(anon.get("/v1/runs/run_x").json()) == {"detail"}
    with stack.client() as raw:
        broken = raw.post(
            "/v1/responses", content=b'{"input": ', headers={"Content-Type": "application/json"}
        )
        assert broken.status_code == 400 and broken.json()["error"]["param"] is None
        query = raw.get("/v1/responses/run_x", params={"starting_after": -1})
        assert query.status_code == 400 and query.json()["error"]["param"] == "starting_after"


def test_idempotency_key_returns_the_same_response(client: OpenAI) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    first = client.responses.create(model="parley", input="hi", background=True, extra_headers=key)
    again = client.responses.create(model="parley", input="hi", background=True, extra_headers=key)
    assert again.id == first.id
    with pytest.raises(openai.ConflictError):
        client.responses.create(model="parley", input="other", extra_headers=key)


def test_an_over_limit_burst_is_a_rate_limit_error(limited: Stack) -> None:
    with sdk(limited) as burst:
        for _ in range(SUBMITS_PER_MINUTE):
            burst.responses.create(model="parley", input="hi", background=True)
        with pytest.raises(openai.RateLimitError) as caught:
            burst.responses.create(model="parley", input="hi", background=True)
    assert caught.value.code == "rate_limit_exceeded"
    assert 1 <= int(caught.value.response.headers["Retry-After"]) <= 60
