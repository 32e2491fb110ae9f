"""POST /chatkit driven with the ChatKit SDK's own request types, its answers parsed back into them.

A turn is a Parley run executed by the worker: the stream relays it, and the thread is the
conversation GET /v1/conversations shows.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import pytest
from chatkit.actions import Action
from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ErrorEvent,
    InferenceOptions,
    ItemsListParams,
    ItemsListReq,
    NoticeEvent,
    Page,
    ProgressUpdateEvent,
    TaskItem,
    Thread,
    ThreadAddUserMessageParams,
    ThreadCreatedEvent,
    ThreadCreateParams,
    ThreadCustomActionParams,
    ThreadDeleteParams,
    ThreadGetByIdParams,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadListParams,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsDeleteReq,
    ThreadsGetByIdReq,
    ThreadsListReq,
    ThreadStreamEvent,
    ThreadsUpdateReq,
    ThreadUpdatedEvent,
    ThreadUpdateParams,
    UserMessageInput,
    UserMessageItem,
    UserMessageTextContent,
)
from pydantic import BaseModel, TypeAdapter

from fakellm import FakeLLM
from shared.chatkit.server import CANCEL_ACTION
from tests.conftest import running_stack
from tests.stack import Api, Stack
from tests.worker.support import requests_for, tag

T = TypeVar("T")
EVENTS: TypeAdapter[ThreadStreamEvent] = TypeAdapter(ThreadStreamEvent)
JS_URL = "https://cdn.platform.openai.com/deployments/chatkit/chatkit.js"


def said(text: str) -> UserMessageInput:
    return UserMessageInput(
        content=[UserMessageTextContent(text=text)],
        attachments=[],
        inference_options=InferenceOptions(),
    )


def send(api: Api, request: BaseModel | bytes) -> httpx.Response:
    body = request if isinstance(request, bytes) else request.model_dump_json().encode()
    return api.post("/chatkit", content=body, headers={"Content-Type": "application/json"})


def stream(api: Api, request: BaseModel) -> list[ThreadStreamEvent]:
    """A streaming request's whole answer (it ends when the turn does), as SDK events."""
    answer = send(api, request)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in answer.text.split("\n\n") if f.strip()]
    assert all(f.startswith("data: ") for f in frames), frames
    return [EVENTS.validate_json(f.removeprefix("data: ")) for f in frames]


def read(api: Api, request: BaseModel, model: Any) -> Any:
    answer = send(api, request)
    assert answer.status_code == 200, answer.text
    return TypeAdapter(model).validate_json(answer.content)


def items(api: Api, thread_id: str, order: Literal["asc", "desc"] = "asc") -> list[ThreadItem]:
    page: Page[ThreadItem] = read(
        api,
        ItemsListReq(params=ItemsListParams(thread_id=thread_id, order=order)),
        Page[ThreadItem],
    )
    return page.data


def done_items(events: list[ThreadStreamEvent]) -> list[ThreadItem]:
    return [e.item for e in events if isinstance(e, ThreadItemDoneEvent)]


def text_of(item: ThreadItem) -> str:
    assert isinstance(item, AssistantMessageItem | UserMessageItem), item
    return "".join(part.text for part in item.content)


def in_background(call: Callable[[], T]) -> Future[T]:
    """Run a blocking request on a thread (e.g. a turn's whole stream) while the test goes on."""
    future: Future[T] = Future()

    def work() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=work, daemon=True).start()
    return future


def wait_until(what: str, check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)


def refusal(answer: httpx.Response, status: int) -> ErrorEvent:
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]
    return ErrorEvent.model_validate_json(answer.content)


def test_a_todo_turn_streams_deltas_and_ends_with_the_assistant_item(api: Api) -> None:
    events = stream(
        api, ThreadsCreateReq(params=ThreadCreateParams(input=said("Add a task to buy milk")))
    )

    created = events[0]
    assert isinstance(created, ThreadCreatedEvent)
    thread_id = created.thread.id
    user, task, reply = done_items(events)
    assert isinstance(user, UserMessageItem) and text_of(user) == "Add a task to buy milk"
    assert any(isinstance(e, ProgressUpdateEvent) and "add_task" in e.text for e in events), events
    assert isinstance(task, TaskItem) and task.task.title == "add_task"
    assert '"created"' in (task.task.content or "")  # type: ignore[union-attr]
    # The reply opens, grows by deltas, and closes as the last event with the whole text.
    added = [e.item for e in events if isinstance(e, ThreadItemAddedEvent)]
    assert [a.id for a in added] == [reply.id]
    deltas = [
        e.update.delta
        for e in events
        if isinstance(e, ThreadItemUpdatedEvent)
        and isinstance(e.update, AssistantMessageContentPartTextDelta)
    ]
    assert len(deltas) >= 1 and "".join(deltas) == text_of(reply)
    assert isinstance(events[-1], ThreadItemDoneEvent) and events[-1].item.id == reply.id
    assert "buy milk" in text_of(reply)
    titled = [e.thread.title for e in events if isinstance(e, ThreadUpdatedEvent)]
    assert titled == ["Add a task to buy milk"]

    # The thread is a conversation, the turn a run on the worker, the task real.
    conversation = api.get(f"/v1/conversations/{thread_id}").json()
    assert conversation["title"] == "Add a task to buy milk"
    messages = api.messages(thread_id)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == text_of(reply) and messages[1]["run_id"]
    assert [t["title"] for t in api.get("/v1/tasks").json()["data"]] == ["buy milk"]
    # Loading the thread shows the items the stream showed, under the same ids.
    assert [(i.type, i.id) for i in items(api, thread_id)] == [
        (i.type, i.id) for i in (user, task, reply)
    ]


def test_threads_are_conversations_both_ways(api: Api) -> None:
    first = stream(api, ThreadsCreateReq(params=ThreadCreateParams(input=said("hello"))))
    thread_id = first[0].thread.id  # type: ignore[union-attr]
    more = stream(
        api,
        ThreadsAddUserMessageReq(
            params=ThreadAddUserMessageParams(thread_id=thread_id, input=said("again"))
        ),
    )
    assert text_of(done_items(more)[-1]) == "You said: again"
    shown = items(api, thread_id)
    assert [(i.type, text_of(i)) for i in shown] == [
        ("user_message", "hello"),
        ("assistant_message", "You said: hello"),
        ("user_message", "again"),
        ("assistant_message", "You said: again"),
    ]
    assert [i.id for i in items(api, thread_id, order="desc")] == [i.id for i in reversed(shown)]

    # A conversation made through /v1/runs is a thread too.
    run = api.turn("from the REST API")
    listed: Page[Thread] = read(api, ThreadsListReq(params=ThreadListParams()), Page[Thread])
    assert [t.id for t in listed.data] == [run["conversation_id"], thread_id]
    loaded: Thread = read(
        api, ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=run["conversation_id"])), Thread
    )
    assert [text_of(i) for i in loaded.items.data] == [
        "from the REST API",
        run["output"]["response"],
    ]

    renamed: Thread = read(
        api,
        ThreadsUpdateReq(params=ThreadUpdateParams(thread_id=thread_id, title="Renamed")),
        Thread,
    )
    assert renamed.title == "Renamed"
    assert api.get(f"/v1/conversations/{thread_id}").json()["title"] == "Renamed"
    assert send(api, ThreadsDeleteReq(params=ThreadDeleteParams(thread_id=thread_id))).json() == {}
    assert api.get(f"/v1/conversations/{thread_id}").status_code == 404
    listed = read(api, ThreadsListReq(params=ThreadListParams(limit=1)), Page[Thread])
    assert [t.id for t in listed.data] == [run["conversation_id"]] and not listed.has_more


def test_a_retried_message_with_an_idempotency_key_replays_its_run(api: Api) -> None:
    first = stream(api, ThreadsCreateReq(params=ThreadCreateParams(input=said("hello"))))
    thread_id = first[0].thread.id  # type: ignore[union-attr]
    again = ThreadsAddUserMessageReq(
        params=ThreadAddUserMessageParams(thread_id=thread_id, input=said("once"))
    )
    api.headers["Idempotency-Key"] = f"key-{tag()}"
    sent, retried = stream(api, again), stream(api, again)
    assert [i.id for i in done_items(retried)] == [i.id for i in done_items(sent)]
    assert text_of(done_items(retried)[-1]) == "You said: once"
    assert [m["content"] for m in api.messages(thread_id)].count("once") == 1


def test_the_cancel_action_cancels_the_running_turn(api: Api) -> None:
    first = stream(api, ThreadsCreateReq(params=ThreadCreateParams(input=said("hello"))))
    thread_id = first[0].thread.id  # type: ignore[union-attr]
    slow = ThreadsAddUserMessageReq(
        params=ThreadAddUserMessageParams(thread_id=thread_id, input=said("[[latency=20]] slow"))
    )
    answer: Future[list[ThreadStreamEvent]] = in_background(lambda: stream(api, slow))

    def running() -> list[dict[str, Any]]:
        runs = api.get("/v1/runs", params={"conversation_id": thread_id}).json()["data"]
        return [r for r in runs if r["status"] == "in_progress"]

    wait_until("the slow turn to start", lambda: bool(running()))
    [run] = running()
    cancel = ThreadsCustomActionReq(
        params=ThreadCustomActionParams(thread_id=thread_id, action=Action(type=CANCEL_ACTION))
    )
    assert isinstance(notice := stream(api, cancel)[-1], NoticeEvent)
    assert notice.message == "Cancelled 1 turn(s)."
    events = answer.result(timeout=30)
    assert isinstance(events[-1], NoticeEvent) and "cancelled" in events[-1].message
    assert api.wait(run["id"])["status"] == "cancelled"
    [error] = [
        e
        for e in stream(
            api,
            ThreadsCustomActionReq(
                params=ThreadCustomActionParams(thread_id=thread_id, action=Action(type="x"))
            ),
        )
        if isinstance(e, ErrorEvent)
    ]
    assert CANCEL_ACTION in (error.message or "")


def restart_api(stack: Stack) -> None:
    command = stack.procs["web"].command
    stack.kill("web", signal.SIGTERM)
    stack.start_proc("web", command)
    stack._wait_http_ready()


def test_history_persists_across_a_restart_of_the_api(api: Api, stack: Stack) -> None:
    events = stream(api, ThreadsCreateReq(params=ThreadCreateParams(input=said("remember me"))))
    thread_id = events[0].thread.id  # type: ignore[union-attr]
    before = items(api, thread_id)
    restart_api(stack)
    after = items(api, thread_id)
    assert after == before and [text_of(i) for i in after] == [
        "remember me",
        "You said: remember me",
    ]
    loaded: Thread = read(
        api, ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread_id)), Thread
    )
    assert loaded.title == "remember me" and loaded.items.data == before


def test_another_users_thread_is_not_found(api: Api, other: Api) -> None:
    events = stream(api, ThreadsCreateReq(params=ThreadCreateParams(input=said("mine only"))))
    thread_id = events[0].thread.id  # type: ignore[union-attr]
    for request in (
        ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread_id)),
        ItemsListReq(params=ItemsListParams(thread_id=thread_id)),
        ThreadsUpdateReq(params=ThreadUpdateParams(thread_id=thread_id, title="stolen")),
        ThreadsDeleteReq(params=ThreadDeleteParams(thread_id=thread_id)),
        ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id="conv_nonexistent")),
    ):
        assert refusal(send(other, request), 404).message == "thread not found"
    [error] = stream(
        other,
        ThreadsAddUserMessageReq(
            params=ThreadAddUserMessageParams(thread_id=thread_id, input=said("hi"))
        ),
    )
    assert isinstance(error, ErrorEvent) and error.message == "thread not found"
    listed: Page[Thread] = read(other, ThreadsListReq(params=ThreadListParams()), Page[Thread])
    assert listed.data == []
    # The owner's thread is as it was.
    assert [text_of(i) for i in items(api, thread_id)] == ["mine only", "You said: mine only"]
    assert api.get(f"/v1/conversations/{thread_id}").json()["title"] == "mine only"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b'{"type": "threads.explode", "params": {}}',
        b'{"type": "threads.create", "params": {"input": {"content": "hi"}}}',
        b'{"type": "items.list", "params": {}}',
        b'{"type": "attachments.create", '
        b'"params": {"name": "a.txt", "size": 1, "mime_type": "text/plain"}}',
        b'{"type": "input.transcribe", '
        b'"params": {"audio_base64": "AAAA", "mime_type": "audio/webm"}}',
    ],
)
def test_bad_payloads_get_the_protocols_error(api: Api, body: bytes) -> None:
    error = refusal(send(api, body), 400)
    assert error.type == "error" and error.message and not error.allow_retry


def test_refused_turns_end_in_an_error_event(api: Api) -> None:
    long_title = ThreadsUpdateReq(params=ThreadUpdateParams(thread_id="conv_x", title="t"))
    assert refusal(send(api, long_title), 404).message == "thread not found"
    first = stream(api, ThreadsCreateReq(params=ThreadCreateParams(input=said("hi"))))
    thread_id = first[0].thread.id  # type: ignore[union-attr]
    too_long = ThreadsUpdateReq(params=ThreadUpdateParams(thread_id=thread_id, title="x" * 501))
    assert "500" in (refusal(send(api, too_long), 400).message or "")

    blank = stream(
        api,
        ThreadsAddUserMessageReq(
            params=ThreadAddUserMessageParams(thread_id=thread_id, input=said("   "))
        ),
    )
    assert isinstance(blank[-1], ErrorEvent) and "blank" in (blank[-1].message or "")
    attached = said("with a file")
    attached.attachments = ["atc_1"]
    [error] = stream(
        api,
        ThreadsAddUserMessageReq(
            params=ThreadAddUserMessageParams(thread_id=thread_id, input=attached)
        ),
    )
    assert isinstance(error, ErrorEvent) and "attachments" in (error.message or "")
    failed = stream(
        api,
        ThreadsAddUserMessageReq(
            params=ThreadAddUserMessageParams(
                thread_id=thread_id, input=said("[[error=400]] this will not work")
            )
        ),
    )
    assert isinstance(failed[-1], ErrorEvent) and failed[-1].message
    # Only the turns that ran are in the thread: the refused ones left nothing.
    roles = [m["role"] for m in api.messages(thread_id)]
    assert roles[:2] == ["user", "assistant"] and len(roles) <= 4
    assert send(api, b"{}").status_code == 400
    with httpx.Client(base_url=str(api.base_url)) as anon:
        assert anon.post("/chatkit", content=b"{}").status_code == 401


@pytest.fixture(scope="module")
def private(
    request: pytest.FixtureRequest,
    stack: Stack,
    llm: FakeLLM,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """A stack of the same tier of its own (its worker gets killed), with ChatKit.js set."""
    workdir: Path = tmp_path_factory.mktemp(f"chatkit-{stack.tier}")
    env = {"CHATKIT_JS_URL": JS_URL, "CHATKIT_DOMAIN_KEY": "domain_pk_test"}
    with running_stack(request, stack.tier, workdir, llm, extra_env=env) as s:
        yield s


def test_a_worker_sigkill_mid_turn_still_ends_in_one_reply(private: Stack) -> None:
    api = private.client()
    title = f"buy bread {tag()}"
    # The tool runs at once; the model's answer after it hangs (once), so the kill lands there.
    message = f"Add a task to {title} [[latency_after_tool=60,1]]"
    create = ThreadsCreateReq(params=ThreadCreateParams(input=said(message)))
    answer = in_background(lambda: stream(api, create))
    wait_until(
        "the model call after the tool", lambda: len(requests_for(private.llm, message)) >= 2
    )
    private.kill("worker")  # SIGKILL: the lease lapses and another worker picks the run up
    private.start_worker()
    events = answer.result(timeout=90)

    thread_id = events[0].thread.id  # type: ignore[union-attr]
    kinds = [item.type for item in done_items(events)]
    assert kinds == ["user_message", "task", "assistant_message"], events
    reply = done_items(events)[-1]
    assert title in text_of(reply)
    assert not any(isinstance(e, ErrorEvent) for e in events)
    assert [m["role"] for m in api.messages(thread_id)] == ["user", "assistant"]
    assert [text_of(i) for i in items(api, thread_id) if i.type != "task"] == [
        message,
        text_of(reply),
    ]
    assert [t["title"] for t in api.get("/v1/tasks").json()["data"]] == [title]


def test_the_page_mounts_chatkit_js_or_says_how_to_set_it_up(private: Stack, stack: Stack) -> None:
    page = httpx.get(f"{private.api_url}/chatkit")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'<script src="{JS_URL}" async></script>' in page.text
    assert 'data-domain-key="domain_pk_test"' in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self' https://cdn.platform.openai.com;" in csp
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp

    unset = httpx.get(f"{stack.api_url}/chatkit")
    assert unset.status_code == 200 and "CHATKIT_JS_URL" in unset.text
    assert "<script" not in unset.text
    assert "script-src 'self';" in unset.headers["Content-Security-Policy"]
