"""The agent loop through the real stack: tool errors, the step limit, usage and LLM faults."""

from __future__ import annotations

import json

import pytest

from fakellm.script import Reply, ToolCall, usage_for
from tests.stack import Api, Stack
from tests.worker.support import requests_for, tag
from worker.agent.openai_model import MAX_ATTEMPTS

MAX_STEPS = 4  # AGENT_MAX_STEPS in the stack's environment


def test_tool_error_reaches_the_model_and_the_run_completes(api: Api, stack: Stack) -> None:
    message = f'finish {tag()} [[tool=complete_task {{"task_id": 99999}}]]'
    run = api.turn(message)
    assert run["status"] == "completed", run
    [call] = run["output"]["tool_calls"]
    assert call["tool_name"] == "complete_task" and call["arguments"] == {"task_id": 99999}
    assert call["is_error"] is True
    assert "task 99999 not found" in call["result"]

    first, second = requests_for(stack.llm, message)
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    # The model is told the call failed, and why.
    assert [m["content"] for m in tool_messages] == ["Error: task 99999 not found"]
    assert run["output"]["response"] == "Sorry, that failed: Error: task 99999 not found"

    assistant = api.messages(run["conversation_id"])[-1]
    assert assistant["role"] == "assistant" and assistant["status"] == "completed"
    assert assistant["tool_calls"][0]["is_error"] is True


def test_step_limit_fails_the_run_and_keeps_its_tool_calls(api: Api, stack: Stack) -> None:
    message = f"[[loop]] spin {tag()}"
    run = api.turn(message)
    assert run["status"] == "failed", run
    assert run["error"]["code"] == "max_steps"
    calls = run["output"]["tool_calls"]
    assert [c["tool_name"] for c in calls] == ["list_tasks"] * MAX_STEPS
    assert all(c["is_error"] is False for c in calls)
    assert len(requests_for(stack.llm, message)) == MAX_STEPS

    user, assistant = api.messages(run["conversation_id"])
    assert user["role"] == "user" and assistant["status"] == "incomplete"
    assert len(assistant["tool_calls"]) == MAX_STEPS


def test_invalid_json_arguments_are_a_tool_error(api: Api) -> None:
    run = api.turn(f"[[bad_args=add_task]] {tag()}")
    assert run["status"] == "completed", run
    [call] = run["output"]["tool_calls"]
    assert call["tool_name"] == "add_task" and call["is_error"] is True
    assert "not valid JSON" in call["result"]
    assert api.get("/v1/tasks").json()["data"] == []


def test_arguments_failing_the_tool_schema_are_a_tool_error(api: Api) -> None:
    run = api.turn(f'{tag()} [[tool=complete_task {{"task_id": "not-a-number"}}]]')
    assert run["status"] == "completed", run
    [call] = run["output"]["tool_calls"]
    assert call["is_error"] is True and "task_id" in call["result"]


def test_usage_is_summed_over_every_model_call(api: Api, stack: Stack) -> None:
    title = f"water the plants {tag()}"
    message = f"Add a task to {title}"
    run = api.turn(message)
    assert run["status"] == "completed", run
    first, second = requests_for(stack.llm, message)
    arguments = json.dumps({"title": title}, ensure_ascii=False)
    expected = [
        usage_for(first["messages"], Reply(tool_calls=[ToolCall("c", "add_task", arguments)])),
        usage_for(second["messages"], Reply(text=run["output"]["response"])),
    ]
    prompt = sum(u["prompt_tokens"] for u in expected)
    completion = sum(u["completion_tokens"] for u in expected)
    assert run["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


@pytest.mark.parametrize(
    ("directive", "code", "calls"),
    [
        ("[[error=500]]", "llm_unavailable", MAX_ATTEMPTS),
        ("[[error=429]]", "llm_rate_limited", MAX_ATTEMPTS),
        ("[[error=400]]", "llm_bad_response", 1),
    ],
)
def test_llm_faults_fail_the_run_after_bounded_retries(
    api: Api, stack: Stack, directive: str, code: str, calls: int
) -> None:
    message = f"hello {tag()} {directive}"
    run = api.turn(message)
    assert run["status"] == "failed", run
    assert run["error"]["code"] == code and run["error"]["message"]
    assert run["output"] is None
    assert len(requests_for(stack.llm, message)) == calls
    assert [m["role"] for m in api.messages(run["conversation_id"])] == ["user"]

    # The conversation is not stuck: the next turn runs.
    after = api.turn("hello again", conversation_id=run["conversation_id"])
    assert after["status"] == "completed", after


def test_garbage_from_the_model_fails_the_run(api: Api, stack: Stack) -> None:
    message = f"hello {tag()} [[garbage]]"
    run = api.turn(message)
    assert run["status"] == "failed", run
    assert run["error"]["code"] == "llm_bad_response"
    assert 1 <= len(requests_for(stack.llm, message)) <= MAX_ATTEMPTS


def test_transient_llm_errors_are_retried_until_the_turn_completes(api: Api, stack: Stack) -> None:
    message = f"hello {tag()} [[error_times=2,503]]"
    run = api.turn(message)
    assert run["status"] == "completed", run
    assert run["error"] is None
    assert len(requests_for(stack.llm, message)) == 3


def test_tools_act_for_the_runs_user_whatever_the_model_says(api: Api, other: Api) -> None:
    theirs = other.post("/v1/tasks", json={"title": "their task"})
    assert theirs.status_code == 201, theirs.text
    their_id = theirs.json()["id"]

    steal = api.turn(
        f'{tag()} [[tool=complete_task {{"task_id": {their_id}, "user_id": "{other.user}"}}]]'
    )
    assert steal["status"] == "completed", steal
    [call] = steal["output"]["tool_calls"]
    assert call["is_error"] is True and f"task {their_id} not found" in call["result"]
    assert other.get(f"/v1/tasks/{their_id}").json()["completed"] is False

    peek = api.turn(f'{tag()} [[tool=list_tasks {{"status": "all", "user_id": "{other.user}"}}]]')
    [call] = peek["output"]["tool_calls"]
    assert call["is_error"] is False and call["result"] == []

    add = api.turn(f'{tag()} [[tool=add_task {{"title": "mine", "user_id": "{other.user}"}}]]')
    [call] = add["output"]["tool_calls"]
    assert call["is_error"] is False, call
    assert [t["title"] for t in api.get("/v1/tasks").json()["data"]] == ["mine"]
    assert [t["title"] for t in other.get("/v1/tasks").json()["data"]] == ["their task"]
