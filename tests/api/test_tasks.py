"""The todo list over REST: each user's tasks numbered 1, 2, 3 …, numbers never reused."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
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


def test_each_user_numbers_their_tasks_from_one(api: Api, other: Api) -> None:
    assert [_add(api, f"mine {i}")["id"] for i in range(3)] == [1, 2, 3]
    theirs = _add(other, "theirs")
    assert theirs["id"] == 1

    # The same number names a different task for each user.
    assert api.get("/v1/tasks/1").json()["title"] == "mine 0"
    assert other.get("/v1/tasks/1").json() == theirs
    # A number only another user has is unknown here, whatever the method.
    assert other.get("/v1/tasks/3").status_code == 404
    assert other.patch("/v1/tasks/3", json={"completed": True}).status_code == 404
    assert other.delete("/v1/tasks/3").status_code == 404
    assert other.patch("/v1/tasks/1", json={"completed": True}).json()["completed"] is True
    assert api.delete("/v1/tasks/1").status_code == 204
    assert other.get("/v1/tasks/1").json()["completed"] is True
    assert [t["id"] for t in api.get("/v1/tasks").json()["data"]] == [2, 3]
    assert [t["id"] for t in other.get("/v1/tasks").json()["data"]] == [1]


def test_deleting_the_highest_task_never_frees_its_number(api: Api, stack: Stack) -> None:
    assert [_add(api, f"t{i}")["id"] for i in range(3)] == [1, 2, 3]
    assert api.delete("/v1/tasks/3").status_code == 204
    assert _add(api, "after the delete")["id"] == 4
    assert api.get("/v1/tasks/3").status_code == 404  # "task 3" stays gone, not someone new

    for number in (1, 2, 4):
        assert api.delete(f"/v1/tasks/{number}").status_code == 204
    assert api.get("/v1/tasks").json()["data"] == []
    assert _add(api, "an empty list starts no count over")["id"] == 5
    rows = stack.sql("SELECT last_number FROM task_counters WHERE user_id = :u", u=api.user)
    assert rows == [(5,)]


def test_parallel_adds_for_one_user_get_distinct_numbers(api: Api, stack: Stack) -> None:
    """Real concurrent requests, each on its own connection (the database's row lock decides)."""
    clients, per_client = 8, 4
    start = threading.Barrier(clients)

    def add_some(index: int) -> list[int]:
        with stack.client(api.user) as client:
            start.wait()
            return [_add(client, f"c{index} t{i}")["id"] for i in range(per_client)]

    with ThreadPoolExecutor(clients) as pool:
        numbers = [n for batch in pool.map(add_some, range(clients)) for n in batch]
    total = clients * per_client
    assert sorted(numbers) == list(range(1, total + 1))
    listed = api.get("/v1/tasks").json()["data"]
    assert [t["id"] for t in listed] == list(range(1, total + 1))
    assert count(stack, "tasks", user_id=api.user) == total
