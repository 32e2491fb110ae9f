"""Many processes: two API processes and two workers (plus beat) on one database and broker keep
the core guarantees — order per conversation, tool effects once, one run per Idempotency-Key,
cancel from anywhere, the same event story from either API — with turns spread over both workers.

Runs on each server tier (services: Redis is broker and event bus; rabbitmq: RabbitMQ is the
broker). Which worker ran a turn is read from the workers' own logs: each process writes
`run <id>: started` to its log file when it claims a turn (worker/runs/execute.py).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from fakellm import FakeLLM
from tests.api.sse import TERMINAL, Stream, read_events
from tests.conftest import CHAOS_TIERS, running_stack
from tests.stack import Api, Stack

CONVERSATIONS = 6
TURNS_EACH = 4


@pytest.fixture(scope="module", params=CHAOS_TIERS)
def many(
    request: pytest.FixtureRequest, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp(f"many-{request.param}")
    with running_stack(request, str(request.param), workdir, llm, apis=2, workers=2) as s:
        yield s


@pytest.fixture
def both(many: Stack) -> Iterator[tuple[Api, Api]]:
    """One user's clients of API process 1 and API process 2."""
    first = many.client()
    second = many.client(first.user, api=1)
    yield first, second
    first.close()
    second.close()


def served_by(stack: Stack) -> dict[str, set[str]]:
    """Run ids each worker process started, from its log."""
    return {
        name: set(re.findall(r"run (run_\w+): started", stack.procs[name].log()))
        for name in ("worker", "worker2")
    }


def moment(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp)


def wait_status(api: Api, run_id: str, status: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while api.get(f"/v1/runs/{run_id}").json()["status"] != status:
        assert time.monotonic() < deadline, f"run {run_id} never reached {status}"
        time.sleep(0.05)


def test_turns_run_in_order_once_each_and_on_both_workers(
    many: Stack, both: tuple[Api, Api]
) -> None:
    apis = both
    # Every conversation's turns are queued at once, through alternating API processes.
    conversations: list[str] = []
    runs: dict[str, list[dict[str, Any]]] = {}
    for k in range(TURNS_EACH):
        for c in range(CONVERSATIONS):
            body: dict[str, Any] = {}
            if k:
                body["conversation_id"] = conversations[c]
            run = apis[(k + c) % 2].submit(f"Add a task to c{c} step {k} [[latency=0.2]]", **body)
            if not k:
                conversations.append(run["conversation_id"])
            runs.setdefault(run["conversation_id"], []).append(run)
    final = {r["id"]: apis[0].wait(r["id"], 120) for rs in runs.values() for r in rs}
    assert Counter(r["status"] for r in final.values()) == {"completed": len(final)}

    for c, conversation_id in enumerate(conversations):
        ordered = [final[r["id"]] for r in runs[conversation_id]]
        # One at a time, in submit order: each turn started after the one before it ended.
        for before, after in zip(ordered, ordered[1:], strict=False):
            assert moment(after["started_at"]) >= moment(before["finished_at"]), (before, after)
        messages = apis[1].messages(conversation_id)
        assert [m["role"] for m in messages] == ["user", "assistant"] * TURNS_EACH
        for k in range(TURNS_EACH):
            assert messages[2 * k]["content"].startswith(f"Add a task to c{c} step {k} ")
            assert f'"c{c} step {k}"' in messages[2 * k + 1]["content"]

    # Each turn's tool effect happened exactly once, whichever worker ran it.
    titles = Counter(
        t["title"] for t in apis[0].get("/v1/tasks", params={"limit": 100}).json()["data"]
    )
    expected = {f"c{c} step {k}" for c in range(CONVERSATIONS) for k in range(TURNS_EACH)}
    assert titles == Counter(expected)
    ids = list(final)
    [(ledger,)] = many.sql(
        "select count(*) from tool_calls where run_id = any(:ids) and status = 'completed'", ids=ids
    )
    assert ledger == len(ids)

    served = served_by(many)
    shares = {name: len(runs_of & set(ids)) for name, runs_of in served.items()}
    print(f"\n[many:{many.tier}] turns per worker process: {shares}")
    assert set(ids) <= served["worker"] | served["worker2"]
    assert served["worker"] & set(ids) and served["worker2"] & set(ids), served


def test_one_idempotency_key_through_both_apis_makes_one_run(
    many: Stack, both: tuple[Api, Api]
) -> None:
    body = {"message": "Add a task to pay once [[latency=0.3]]"}
    headers = {"Idempotency-Key": "pay-once-1"}

    def post(i: int) -> httpx.Response:
        return both[i % 2].post("/v1/runs", json=body, headers=headers)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [202], [
        (r.status_code, r.text) for r in responses
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    run_id = responses[0].json()["id"]
    [(count,)] = many.sql(
        "select count(*) from runs where user_id = :u and idempotency_key = 'pay-once-1'",
        u=both[0].user,
    )
    assert count == 1
    assert both[1].wait(run_id)["status"] == "completed"
    titles = [t["title"] for t in both[0].get("/v1/tasks").json()["data"]]
    assert titles == ["pay once"]


def test_a_run_submitted_through_one_api_is_cancelled_through_the_other(
    many: Stack, both: tuple[Api, Api]
) -> None:
    first, second = both
    run = first.submit("Add a task to never happen [[latency=5]]")
    wait_status(second, run["id"], "in_progress")
    response = second.post(f"/v1/runs/{run['id']}/cancel")
    assert response.status_code == 200, response.text
    assert first.wait(run["id"])["status"] == "cancelled"
    assert first.get("/v1/tasks").json()["data"] == []
    stream = read_events(second, run["id"])
    assert stream.types[-1] == "run.cancelled"
    assert run["id"] in served_by(many)["worker"] | served_by(many)["worker2"]


def test_either_api_replays_the_same_events_live_and_after_n(both: tuple[Api, Api]) -> None:
    first, second = both
    run = first.submit("Add a task to tell both [[latency_after_tool=0.5]] [[stream=8,0.05]]")
    # Followed live through both API processes while a worker writes it (Redis pub/sub).
    live: dict[int, Stream] = {}
    readers = [
        threading.Thread(target=lambda i=i: live.__setitem__(i, read_events(both[i], run["id"])))
        for i in (0, 1)
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=60)
    assert live[0].ended and live[1].ended
    story = [(e.id, e.type, e.data) for e in live[0].events]
    assert story == [(e.id, e.type, e.data) for e in live[1].events]
    assert [i for i, _, _ in story] == list(range(1, len(story) + 1))
    assert story[-1][1] in TERMINAL and len(story) > 6

    # Resumed afterwards, from either process, by header or by query.
    resumed = [
        read_events(second, run["id"], last_event_id="3"),
        read_events(first, run["id"], after=3),
        read_events(first, run["id"], last_event_id="3"),
        read_events(second, run["id"], after=3),
    ]
    for stream in resumed:
        assert [(e.id, e.type, e.data) for e in stream.events] == story[3:]
