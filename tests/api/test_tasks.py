"""The todo list over REST (docs/api.md section 7)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import count
from tests.stack import Api, Stack

TASK_FIELDS = {"id", "title", "description", "completed", "created_at", "updated_at"}


def _add(api: Api, title: str, description: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"title": title}
    if description is not None:
        body["description"] = description
    response = api.post("/v1/tasks", json=body)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def test_create_get_update_delete(api: Api, stack: Stack) -> None:
    task = _add(api, "buy milk", "2 litres")
    assert set(task) == TASK_FIELDS
    assert isinstance(task["id"], int) and not isinstance(task["id"], bool)
    assert task["title"] == "buy milk" and task["description"] == "2 litres"
    assert task["completed"] is False

    assert api.get(f"/v1/tasks/{task['id']}").json() == task

    patched = api.patch(f"/v1/tasks/{task['id']}", json={"title": "buy oat milk"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "buy oat milk"
    assert patched.json()["description"] == "2 litres"  # untouched fields stay
    assert patched.json()["updated_at"] >= task["updated_at"]

    done = api.patch(f"/v1/tasks/{task['id']}", json={"completed": True}).json()
    assert done["completed"] is True and done["title"] == "buy oat milk"
    undone = api.patch(f"/v1/tasks/{task['id']}", json={"completed": False}).json()
    assert undone["completed"] is False

    deleted = api.delete(f"/v1/tasks/{task['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert api.get(f"/v1/tasks/{task['id']}").status_code == 404
    assert api.patch(f"/v1/tasks/{task['id']}", json={"title": "x"}).status_code == 404
    assert api.delete(f"/v1/tasks/{task['id']}").status_code == 404
    assert count(stack, "tasks", user_id=api.user) == 0


def test_list_is_oldest_first_and_filters_by_status(api: Api) -> None:
    ids = [_add(api, f"task {i}")["id"] for i in range(4)]
    assert ids == sorted(ids)
    api.patch(f"/v1/tasks/{ids[1]}", json={"completed": True})
    api.patch(f"/v1/tasks/{ids[3]}", json={"completed": True})

    def listed(**params: str) -> list[int]:
        response = api.get("/v1/tasks", params=params)
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"data"}
        return [t["id"] for t in response.json()["data"]]

    assert listed() == ids
    assert listed(status="all") == ids
    assert listed(status="pending") == [ids[0], ids[2]]
    assert listed(status="completed") == [ids[1], ids[3]]
    assert api.get("/v1/tasks", params={"status": "done"}).status_code == 422


def test_missing_and_malformed_task_ids(api: Api) -> None:
    assert api.get("/v1/tasks/2147483647").status_code == 404
    assert api.get("/v1/tasks/2147483647").json() == {"detail": "task 2147483647 not found"}
    for bad in ("0", "-1", "abc", "1.5", "2147483648", "9" * 40, "1e3"):
        for method in ("GET", "PATCH", "DELETE"):
            body = {"title": "x"} if method == "PATCH" else None
            response = api.request(method, f"/v1/tasks/{bad}", json=body)
            assert response.status_code == 422, (bad, method, response.text)
            assert "detail" in response.json()


def test_task_bodies_are_validated(api: Api, stack: Stack) -> None:
    for body in (
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "t" * 501},
        {"title": 5},
        {"title": None},
        {"title": "ok", "completed": True},  # not settable on create
        {"title": "ok", "owner": "someone-else"},
        {"title": "a\x00b"},
        {"title": "ok", "description": "d\x00"},
        {"title": "ok", "description": "d" * 10001},
    ):
        response = api.post("/v1/tasks", json=body)
        assert response.status_code == 422, (body, response.text)
    assert count(stack, "tasks", user_id=api.user) == 0

    task = _add(api, "keep me")
    for patch in (
        {"title": ""},
        {"title": "  "},
        {"completed": "yes"},
        {"completed": 1},
        {"id": 99},
        {"user_id": "other"},
        {"title": "x\x00"},
    ):
        response = api.patch(f"/v1/tasks/{task['id']}", json=patch)
        assert response.status_code == 422, (patch, response.text)
    assert api.get(f"/v1/tasks/{task['id']}").json() == task
