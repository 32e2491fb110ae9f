"""Turns a client can trust: idempotent submit, one turn at a time, cancel that stops, limits."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from fakellm import FakeLLM
from tests.api.conftest import SUBMITS_PER_MINUTE
from tests.stack import Api, Stack


def _until(predicate: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_concurrent_duplicates_with_one_key_create_one_run(api: Api, stack: Stack) -> None:
    key = f"key-{uuid.uuid4()}"

    def post(_: int) -> tuple[int, str]:
        with stack.client(api.user) as client:
            r = client.post(
                "/v1/runs",
                json={"message": "Add a task to water plants"},
                headers={"Idempotency-Key": key},
            )
            return r.status_code, r.json()["id"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))
    assert len({run_id for _, run_id in answers}) == 1
    assert sorted(code for code, _ in answers) == [200] * 19 + [202]
    run = api.wait(answers[0][1])
    assert run["status"] == "completed"
    assert len(api.get("/v1/runs").json()["data"]) == 1
    assert len(api.get("/v1/conversations").json()["data"]) == 1
    assert [t["title"] for t in api.get("/v1/tasks").json()["data"]] == ["water plants"]


def test_reject_answers_409_with_the_active_run(api: Api) -> None:
    first = api.submit("hello [[latency=2]]")
    second = api.post(
        "/v1/runs",
        json={
            "message": "again",
            "conversation_id": first["conversation_id"],
            "multitask_strategy": "reject",
        },
    )
    assert second.status_code == 409
    assert second.json()["active_run_id"] == first["id"]
    assert api.wait(first["id"])["status"] == "completed"
    assert len(api.get("/v1/runs").json()["data"]) == 1


def test_enqueued_turns_run_one_after_another_in_order(api: Api) -> None:
    first = api.submit("one [[latency=0.5]]")
    conv = first["conversation_id"]
    later = [api.submit(f"turn {i}", conversation_id=conv) for i in range(2, 5)]
    runs = [api.wait(r["id"]) for r in [first, *later]]
    assert [r["status"] for r in runs] == ["completed"] * 4
    for before, after in zip(runs, runs[1:], strict=False):
        assert before["finished_at"] <= after["started_at"]
    messages = api.messages(conv)
    assert [m["role"] for m in messages] == ["user", "assistant"] * 4
    assert [m["content"] for m in messages[::2]] == [
        "one [[latency=0.5]]",
        "turn 2",
        "turn 3",
        "turn 4",
    ]


def test_cancel_stops_a_streaming_turn_and_keeps_the_partial_reply(api: Api, llm: FakeLLM) -> None:
    run = api.submit("tell me a story [[stream=60,0.1]]")
    _until(lambda: api.get(f"/v1/runs/{run['id']}").json()["status"] == "in_progress")
    time.sleep(1.0)
    closed_before = llm.cancelled
    requests_before = len(llm.requests)
    cancelled = api.post(f"/v1/runs/{run['id']}/cancel")
    assert cancelled.status_code == 200
    final = api.wait(run["id"], 10)
    assert final["status"] == "cancelled"
    assert final["error"]["code"] == "cancelled"
    assert final["finished_at"] is not None
    _until(lambda: llm.cancelled > closed_before, 10)  # the LLM stream was closed
    time.sleep(0.5)
    assert len(llm.requests) == requests_before  # no further model call
    [_, reply] = api.messages(run["conversation_id"])
    assert reply["status"] == "incomplete"
    assert reply["content"].startswith("chunk1")
    assert 0 < len(reply["content"].split()) < 60
    assert api.post(f"/v1/runs/{run['id']}/cancel").status_code == 409


def test_cancel_of_a_queued_run_is_immediate_and_the_next_turn_proceeds(api: Api) -> None:
    first = api.submit("slow [[latency=1.5]]")
    conv = first["conversation_id"]
    queued = api.submit("second", conversation_id=conv)
    third = api.submit("third", conversation_id=conv)
    cancelled = api.post(f"/v1/runs/{queued['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert api.wait(third["id"])["status"] == "completed"
    contents = [m["content"] for m in api.messages(conv)]
    assert "second" not in contents and "third" in contents


def test_interrupt_cancels_the_active_turn_and_runs_the_new_one(api: Api) -> None:
    first = api.submit("long story [[stream=80,0.1]]")
    _until(lambda: api.get(f"/v1/runs/{first['id']}").json()["status"] == "in_progress")
    second = api.submit(
        "Add a task to stop talking",
        conversation_id=first["conversation_id"],
        multitask_strategy="interrupt",
    )
    assert api.wait(first["id"])["status"] == "cancelled"
    assert api.wait(second["id"])["status"] == "completed"
    roles = [(m["role"], m["status"]) for m in api.messages(first["conversation_id"])]
    assert roles == [
        ("user", "completed"),
        ("assistant", "incomplete"),
        ("user", "completed"),
        ("assistant", "completed"),
    ]


def test_rate_limit_answers_429_with_retry_after_per_user(limited: Stack) -> None:
    with limited.client() as alice, limited.client() as bob:
        key = {"Idempotency-Key": "same"}
        assert alice.post("/v1/runs", json={"message": "hi"}, headers=key).status_code == 202
        assert alice.post("/v1/runs", json={"message": "hi"}, headers=key).status_code == 200
        for _ in range(SUBMITS_PER_MINUTE - 1):  # the replay above did not count
            assert alice.post("/v1/runs", json={"message": "hi"}).status_code == 202
        refused = alice.post("/v1/runs", json={"message": "hi"})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "rate limit" in refused.json()["detail"]
        assert bob.post("/v1/runs", json={"message": "hi"}).status_code == 202
        assert len(alice.get("/v1/runs").json()["data"]) == SUBMITS_PER_MINUTE
