"""Human approval: a run whose agent calls a tool marked `always` waits in requires_action (no
worker holds it) until a person approves or rejects the call through POST
/v1/runs/{id}/tool-approvals; an approved call runs once, a rejected one becomes a tool error
the model reads; cancel ends a waiting run at once, and nobody answering fails it in time; a
waiting run holds none of its user's MAX_ACTIVE_RUNS_PER_USER slots."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakellm import FakeLLM
from tests.api.sse import read_events
from tests.api.test_events_ws import events_until_end, receive, socket
from tests.conftest import TIERS, running_stack
from tests.stack import Api, Stack, make_token
from tests.worker.support import tag

WAITING = "requires_action"


def approving_agent(api: Api) -> dict[str, Any]:
    response = api.post(
        "/v1/agents",
        json={
            "name": "careful",
            "instructions": "Manage the user's tasks.",
            "tools": [{"type": "todo"}],
            "approval": {"delete_task": "always"},
        },
    )
    assert response.status_code == 201, response.text
    agent: dict[str, Any] = response.json()
    return agent


def new_task(api: Api, title: str) -> int:
    response = api.post("/v1/tasks", json={"title": title})
    assert response.status_code == 201, response.text
    task_id: int = response.json()["id"]
    return task_id


def wait_for_action(api: Api, run_id: str, seconds: float = 30) -> dict[str, Any]:
    """Long-poll until the run waits for a person (it answers at once when it does)."""
    deadline = time.monotonic() + seconds
    while True:
        run: dict[str, Any] = api.get(f"/v1/runs/{run_id}", params={"wait": 5}).json()
        if run["status"] == WAITING:
            return run
        assert run["status"] in ("queued", "in_progress"), run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"


def paused_delete(api: Api) -> tuple[dict[str, Any], int]:
    """A run of the approving agent waiting on `delete_task` of a fresh task."""
    agent = approving_agent(api)
    task_id = new_task(api, f"keep me {tag()}")
    submitted = api.submit(f"delete task {task_id} {tag()}", agent_id=agent["id"])
    return wait_for_action(api, submitted["id"]), task_id


def decide(api: Api, run_id: str, *decisions: dict[str, Any]) -> Any:
    return api.post(f"/v1/runs/{run_id}/tool-approvals", json={"decisions": list(decisions)})


def test_an_approved_call_runs_once_and_the_turn_completes(
    api: Api, other: Api, stack: Stack
) -> None:
    run, task_id = paused_delete(api)
    [call] = run["required_action"]["tool_calls"]
    assert run["required_action"]["type"] == "tool_approval"
    assert (call["tool_name"], call["arguments"]) == ("delete_task", {"task_id": task_id})
    assert set(call) == {"id", "tool_name", "arguments"}
    assert run["finished_at"] is None and run["output"] is None
    # Nothing ran, and no worker holds the run while a person thinks.
    assert api.get(f"/v1/tasks/{task_id}").status_code == 200
    [(token, lease_until)] = stack.sql(
        "SELECT lease_token, lease_until FROM runs WHERE id = :r", r=run["id"]
    )
    assert token is None and lease_until is not None  # the decision's deadline

    approve = {"tool_call_id": call["id"], "approve": True}
    assert decide(other, run["id"], approve).status_code == 404
    assert decide(api, run["id"]).status_code == 422  # no decisions
    missing = decide(api, run["id"], {"tool_call_id": "tc_unknown", "approve": True})
    assert missing.status_code == 422, missing.text
    assert decide(api, run["id"], approve, approve).status_code == 422  # one call twice

    answered = decide(api, run["id"], approve)
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "queued" and answered.json()["required_action"] is None
    assert decide(api, run["id"], approve).status_code == 409

    done = api.wait(run["id"])
    assert done["status"] == "completed", done
    assert done["required_action"] is None
    [result] = done["output"]["tool_calls"]
    assert result["id"] == call["id"] and result["is_error"] is False
    assert result["result"]["status"] == "deleted"
    assert "deleted" in done["output"]["response"]
    assert api.get(f"/v1/tasks/{task_id}").status_code == 404
    rows = stack.sql("SELECT approval, status FROM tool_calls WHERE run_id = :r", r=run["id"])
    assert [tuple(r) for r in rows] == [("approved", "completed")]
    assert decide(api, run["id"], approve).status_code == 409  # ended

    stream = read_events(api, run["id"])
    types = stream.types
    assert stream.ended and types[-1] == "run.completed"
    waiting = types.index("run.requires_action")
    assert types[waiting - 1] == "tool_call.started"
    assert types[waiting + 1 : waiting + 3] == ["run.queued", "run.in_progress"]
    assert types.count("tool_call.completed") == 1
    event = stream.events[waiting].data["run"]
    assert event["status"] == WAITING and event["required_action"] == run["required_action"]
    # The user message is written once, however many times the turn started.
    messages = api.messages(run["conversation_id"])
    assert [m["role"] for m in messages] == ["user", "assistant"]


def test_websocket_subscribers_see_the_wait_and_the_resumed_turn(api: Api, stack: Stack) -> None:
    run, _ = paused_delete(api)
    [call] = run["required_action"]["tool_calls"]
    with socket(stack, make_token(api.user)) as ws:
        ws.send(json.dumps({"type": "subscribe", "run_id": run["id"]}))
        seen = [receive(ws)]
        while seen[-1]["type"] != "run.requires_action":
            seen.append(receive(ws))
        assert seen[-1]["data"]["run"]["required_action"] == run["required_action"]
        assert decide(api, run["id"], {"tool_call_id": call["id"], "approve": True}).is_success
        after = events_until_end(ws)[run["id"]]
    assert after[0]["type"] == "run.queued" and after[-1]["type"] == "run.completed"


def test_a_rejected_call_is_a_tool_error_the_model_reads(api: Api) -> None:
    run, task_id = paused_delete(api)
    [call] = run["required_action"]["tool_calls"]
    reject = {"tool_call_id": call["id"], "approve": False, "reason": "I still need it"}
    answered = decide(api, run["id"], reject)
    assert answered.status_code == 200, answered.text

    done = api.wait(run["id"])
    assert done["status"] == "completed", done
    [result] = done["output"]["tool_calls"]
    assert result["is_error"] is True
    assert result["result"] == "rejected by the user: I still need it"
    assert "rejected by the user: I still need it" in done["output"]["response"]
    assert api.get(f"/v1/tasks/{task_id}").status_code == 200


def test_cancel_ends_a_waiting_run_at_once_and_the_conversation_moves_on(api: Api) -> None:
    run, task_id = paused_delete(api)
    later = api.submit(f"hello again {tag()}", conversation_id=run["conversation_id"])
    # The conversation's next turn waits behind the one waiting for a person.
    assert api.get(f"/v1/runs/{later['id']}", params={"wait": 2}).json()["status"] == "queued"

    busy = api.post(
        "/v1/runs",
        json={
            "message": "hi",
            "conversation_id": run["conversation_id"],
            "multitask_strategy": "reject",
        },
    )
    assert busy.status_code == 409 and busy.json()["active_run_id"] == run["id"]

    cancelled = api.post(f"/v1/runs/{run['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["required_action"] is None
    assert body["error"]["code"] == "cancelled"
    [call] = run["required_action"]["tool_calls"]
    late = decide(api, run["id"], {"tool_call_id": call["id"], "approve": True})
    assert late.status_code == 409
    assert api.wait(later["id"])["status"] == "completed"
    assert api.get(f"/v1/tasks/{task_id}").status_code == 200


def test_interrupt_cancels_a_waiting_run_and_runs_the_new_turn(api: Api) -> None:
    run, task_id = paused_delete(api)
    newer = api.submit(
        f"never mind {tag()}",
        conversation_id=run["conversation_id"],
        multitask_strategy="interrupt",
    )
    assert api.wait(newer["id"])["status"] == "completed"
    ended = api.wait(run["id"])
    assert ended["status"] == "cancelled" and ended["required_action"] is None
    assert api.get(f"/v1/tasks/{task_id}").status_code == 200


@pytest.fixture(params=TIERS)
def hasty_stack(request: pytest.FixtureRequest, llm: FakeLLM, tmp_path: Path) -> Iterator[Stack]:
    env = {"APPROVAL_TIMEOUT_SECONDS": "5", "MAX_ACTIVE_RUNS_PER_USER": "1"}
    with running_stack(request, str(request.param), tmp_path, llm, extra_env=env) as s:
        yield s


def test_a_run_nobody_answers_fails_with_approval_expired(hasty_stack: Stack) -> None:
    api = hasty_stack.client()
    run, task_id = paused_delete(api)
    # A waiting run holds none of its user's slots (the cap is 1 here): other turns run.
    other = api.turn(f"hello meanwhile {tag()}")
    assert other["status"] == "completed"
    done = api.wait(run["id"])
    assert other["started_at"] < done["finished_at"]
    assert done["status"] == "failed", done
    assert done["error"]["code"] == "approval_expired"
    assert done["required_action"] is None
    [call] = run["required_action"]["tool_calls"]
    late = decide(api, run["id"], {"tool_call_id": call["id"], "approve": True})
    assert late.status_code == 409
    assert api.get(f"/v1/tasks/{task_id}").status_code == 200
