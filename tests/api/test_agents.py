"""Agents over HTTP: create, read, list, change (new versions), delete; isolation; validation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import count
from tests.stack import Api, Stack

TODO_AGENT = {
    "name": "Planner",
    "instructions": "You plan the user's week.",
    "tools": [{"type": "todo"}],
}


def create_agent(api: Api, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/agents", json={**TODO_AGENT, **body})
    assert response.status_code == 201, response.text
    agent: dict[str, Any] = response.json()
    return agent


def test_create_read_list_and_the_agent_shape(api: Api) -> None:
    agent = create_agent(
        api,
        model="gpt-4.1-mini",
        temperature=0.2,
        metadata={"team": "ops"},
        approval={"delete_task": "always"},
    )
    assert agent["id"].startswith("agent_") and agent["object"] == "agent"
    assert set(agent) == {
        "id",
        "object",
        "name",
        "instructions",
        "model",
        "temperature",
        "tools",
        "approval",
        "metadata",
        "version",
        "created_at",
        "updated_at",
    }
    assert agent["version"] == 1
    assert agent["tools"] == [{"type": "todo"}]
    assert agent["approval"] == {"delete_task": "always"}
    assert (agent["model"], agent["temperature"]) == ("gpt-4.1-mini", 0.2)
    assert api.get(f"/v1/agents/{agent['id']}").json() == agent

    plain = create_agent(api, name="Plain")
    assert (plain["model"], plain["temperature"], plain["approval"]) == (None, None, {})
    first = api.get("/v1/agents", params={"limit": 1}).json()
    assert first["has_more"] is True and [a["id"] for a in first["data"]] == [plain["id"]]
    rest = api.get("/v1/agents", params={"limit": 1, "after": first["next_cursor"]}).json()
    assert [a["id"] for a in rest["data"]] == [agent["id"]] and rest["has_more"] is False


def test_each_change_is_a_new_version_and_the_old_ones_are_kept(api: Api, stack: Stack) -> None:
    agent = create_agent(api)
    changed = api.patch(f"/v1/agents/{agent['id']}", json={"instructions": "Be terse."})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2 and changed.json()["instructions"] == "Be terse."
    assert changed.json()["name"] == "Planner"
    # The same values again change nothing.
    same = api.patch(f"/v1/agents/{agent['id']}", json={"instructions": "Be terse."}).json()
    assert same["version"] == 2
    cleared = api.patch(
        f"/v1/agents/{agent['id']}", json={"model": "m2", "temperature": 1.5}
    ).json()
    assert (cleared["version"], cleared["model"], cleared["temperature"]) == (3, "m2", 1.5)
    back = api.patch(f"/v1/agents/{agent['id']}", json={"model": None}).json()
    assert (back["version"], back["model"]) == (4, None)
    rows = stack.sql(
        "SELECT version, instructions FROM agent_versions WHERE agent_id = :a ORDER BY version",
        a=agent["id"],
    )
    assert [tuple(r) for r in rows] == [
        (1, "You plan the user's week."),
        (2, "Be terse."),
        (3, "Be terse."),
        (4, "Be terse."),
    ]


def test_another_users_agent_is_404_everywhere(api: Api, other: Api) -> None:
    agent = create_agent(api)
    path = f"/v1/agents/{agent['id']}"
    assert other.get(path).status_code == 404
    assert other.patch(path, json={"name": "mine"}).status_code == 404
    assert other.delete(path).status_code == 404
    assert other.get("/v1/agents").json()["data"] == []
    assert (
        other.post("/v1/runs", json={"message": "hi", "agent_id": agent["id"]}).status_code == 404
    )
    assert api.get(path).json() == agent


def test_delete_hides_the_agent_but_keeps_its_versions(api: Api, stack: Stack) -> None:
    agent = create_agent(api)
    assert api.delete(f"/v1/agents/{agent['id']}").status_code == 204
    assert api.get(f"/v1/agents/{agent['id']}").status_code == 404
    assert api.delete(f"/v1/agents/{agent['id']}").status_code == 404
    assert api.post("/v1/runs", json={"message": "hi", "agent_id": agent["id"]}).status_code == 404
    assert count(stack, "agent_versions", agent_id=agent["id"]) == 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"tools": [{"type": "mcp", "server": "nowhere"}]}, "unknown MCP server 'nowhere'"),
        ({"tools": [{"type": "todo"}, {"type": "todo"}]}, "listed twice"),
        ({"approval": {"send_email": "always"}}, "not a tool of this agent"),
        ({"tools": [], "approval": {"add_task": "always"}}, "not a tool of this agent"),
        ({"approval": {"add_task": "sometimes"}}, "approval"),
        ({"tools": [{"type": "shell"}]}, "tools"),
        ({"tools": [{"type": "mcp", "server": "a__b"}]}, "server"),
        ({"name": "   "}, "name"),
        ({"instructions": ""}, "instructions"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": False}, "temperature"),
        ({"model": "has space"}, "model"),
        ({"colour": "red"}, "colour"),
        ({"metadata": {str(i): i for i in range(17)}}, "metadata"),
    ],
)
def test_bad_agents_are_422_with_a_reason(api: Api, body: dict[str, Any], needle: str) -> None:
    response = api.post("/v1/agents", json={**TODO_AGENT, **body})
    assert response.status_code == 422, response.text
    assert needle in response.text


def test_bad_changes_are_422_and_change_nothing(api: Api) -> None:
    agent = create_agent(api, approval={"add_task": "always"})
    path = f"/v1/agents/{agent['id']}"
    bodies: list[dict[str, Any]] = [
        {"tools": [{"type": "mcp", "server": "nowhere"}]},
        {"name": None},
        {"approval": {"nope": "always"}},
        {"tools": []},  # its approval would name a tool it no longer has
    ]
    for body in bodies:
        response = api.patch(path, json=body)
        assert response.status_code == 422, (body, response.text)
    assert api.get(path).json() == agent


def test_runs_record_the_agent_and_version_they_were_submitted_with(api: Api) -> None:
    default = api.turn("You there?")
    assert (default["agent_id"], default["agent_version"]) == (None, None)
    agent = create_agent(api)
    api.patch(f"/v1/agents/{agent['id']}", json={"instructions": "v2"})
    run = api.submit("hello [[latency=0]]", agent_id=agent["id"])
    assert (run["agent_id"], run["agent_version"]) == (agent["id"], 2)
    assert api.wait(run["id"])["agent_version"] == 2
