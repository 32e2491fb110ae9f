"""Runs of a user's agent: its instructions, model, temperature and only its tools reach the
model, and the version a run was submitted with is the one it runs, whatever happens after."""

from __future__ import annotations

from typing import Any

from fakellm import FakeLLM
from shared.agents.schemas import TODO_TOOLS
from tests.stack import Api
from tests.worker.support import requests_for, tag


def create_agent(api: Api, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/agents", json={"name": "a", "tools": [{"type": "todo"}], **body})
    assert response.status_code == 201, response.text
    agent: dict[str, Any] = response.json()
    return agent


def offered(request: dict[str, Any]) -> set[str]:
    return {tool["function"]["name"] for tool in request.get("tools") or []}


def test_the_agents_instructions_model_and_temperature_reach_the_model(
    api: Api, llm: FakeLLM
) -> None:
    instructions = f"You are Zed, a gardener's assistant {tag()}."
    agent = create_agent(api, instructions=instructions, model="zed-1", temperature=0.3)
    message = f"Add a task to water the plants {tag()}"
    run = api.turn(message, agent_id=agent["id"])
    assert run["status"] == "completed", run
    assert run["output"]["tool_calls"][0]["tool_name"] == "add_task"
    requests = requests_for(llm, message)
    assert len(requests) == 2
    for request in requests:
        assert request["model"] == "zed-1" and request["temperature"] == 0.3
        assert request["messages"][0] == {"role": "system", "content": instructions}
        assert offered(request) == set(TODO_TOOLS)

    default_message = f"Add a task to sweep {tag()}"
    assert api.turn(default_message)["status"] == "completed"
    [first, _] = requests_for(llm, default_message)
    assert first["model"] == "gpt-4o-mini" and "temperature" not in first
    assert "Parley" in first["messages"][0]["content"]


def test_an_agent_without_tools_gets_none_and_cannot_call_any(api: Api, llm: FakeLLM) -> None:
    agent = create_agent(api, instructions="Just chat.", tools=[])
    message = f"Add a task to buy bread {tag()}"
    run = api.turn(message, agent_id=agent["id"])
    assert run["status"] == "completed", run
    assert run["output"] == {"response": "I cannot do that.", "tool_calls": []}
    assert offered(requests_for(llm, message)[0]) == set()

    # A model that calls a tool it was not offered gets a tool error, never the tool.
    looping = api.turn(f"[[loop]] {tag()}", agent_id=agent["id"])
    assert looping["status"] == "failed" and looping["error"]["code"] == "max_steps"
    calls = api.messages(looping["conversation_id"])[-1]["tool_calls"]
    assert calls and all(c["is_error"] for c in calls)
    assert calls[0]["result"] == "Error: this agent has no tool named list_tasks"
    assert api.get("/v1/tasks").json()["data"] == []


def test_a_queued_run_keeps_its_version_when_the_agent_changes_or_goes(
    api: Api, llm: FakeLLM
) -> None:
    agent = create_agent(api, instructions="Version one.")
    ahead = api.submit(f"[[latency=4]] hold the conversation {tag()}")
    message = f"Who are you? {tag()}"
    queued = api.submit(message, agent_id=agent["id"], conversation_id=ahead["conversation_id"])
    assert queued["status"] == "queued" and queued["agent_version"] == 1
    changed = api.patch(f"/v1/agents/{agent['id']}", json={"instructions": "Version two."})
    assert changed.json()["version"] == 2
    assert api.delete(f"/v1/agents/{agent['id']}").status_code == 204

    assert api.wait(ahead["id"])["status"] == "completed"
    done = api.wait(queued["id"])
    assert done["status"] == "completed", done
    assert (done["agent_id"], done["agent_version"]) == (agent["id"], 1)
    [request] = requests_for(llm, message)
    assert request["messages"][0] == {"role": "system", "content": "Version one."}
