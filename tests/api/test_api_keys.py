"""API keys (issue 10): shown once, stored hashed, scoped (403 names the scope), revoked at once."""

from __future__ import annotations

import datetime as dt
import time

import httpx
from websockets.sync.client import connect

from tests.api.conftest import count
from tests.api.signin import bearer
from tests.api.test_events_ws import receive, ws_url
from tests.stack import Api, Stack

ALL_SCOPES = [
    "runs:read",
    "runs:write",
    "tasks:read",
    "tasks:write",
    "agents:read",
    "agents:write",
    "webhooks:manage",
]


def create_key(api: Api, scopes: list[str], **body: object) -> dict[str, object]:
    response = api.post("/v1/api-keys", json={"name": "ci", "scopes": scopes, **body})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created: dict[str, object] = response.json()
    return created


def test_a_key_is_shown_once_and_stored_only_as_a_hash(api: Api, stack: Stack) -> None:
    created = create_key(api, ["runs:read", "tasks:read"])
    key = str(created["key"])
    assert key.startswith("pk_") and len(key) > 40 and key.startswith(str(created["prefix"]))
    assert created["scopes"] == ["runs:read", "tasks:read"] and created["last_used_at"] is None
    rows = stack.sql("SELECT key_hash, prefix FROM api_keys WHERE id = :id", id=created["id"])
    assert key not in rows[0][0] and rows[0][1] == created["prefix"]
    listed = api.get("/v1/api-keys").json()["data"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]

    with bearer(stack, key) as integration:
        me = integration.get("/v1/me").json()
        assert me == {
            "id": api.user,
            "username": None,
            "auth": "api_key",
            "scopes": created["scopes"],
        }
        assert integration.get("/v1/tasks").status_code == 200
    assert api.get("/v1/api-keys").json()["data"][0]["last_used_at"] is not None


def test_each_scope_guards_its_routes_and_403_names_it(api: Api, stack: Stack) -> None:
    run = api.turn("add a task to buy milk")
    for scope in ALL_SCOPES:
        key = str(create_key(api, [scope])["key"])
        with bearer(stack, key) as client:
            checks = {
                "runs:read": client.get(f"/v1/runs/{run['id']}"),
                "runs:write": client.post("/v1/conversations", json={"title": "t"}),
                "tasks:read": client.get("/v1/tasks"),
                "tasks:write": client.post("/v1/tasks", json={"title": "x"}),
                "agents:read": client.get("/v1/agents"),
                "agents:write": client.post(
                    "/v1/agents", json={"name": "a", "instructions": "i", "tools": []}
                ),
                "webhooks:manage": client.get("/v1/webhook-secret"),
            }
            for needed, response in checks.items():
                if needed == scope:
                    assert response.status_code in (200, 201), (scope, response.text)
                else:
                    assert response.status_code == 403, (scope, needed, response.text)
                    assert response.json()["required_scope"] == needed
                    assert needed in response.json()["detail"]
    assert count(stack, "api_keys", user_id=api.user) == len(ALL_SCOPES)


def test_keys_cannot_manage_keys(api: Api, stack: Stack) -> None:
    key = str(create_key(api, ALL_SCOPES)["key"])
    with bearer(stack, key) as client:
        assert client.get("/v1/api-keys").status_code == 403
        assert (
            client.post("/v1/api-keys", json={"name": "n", "scopes": ["runs:read"]}).status_code
            == 403
        )


def test_delete_revokes_at_once_and_expired_keys_are_refused(
    api: Api, other: Api, stack: Stack
) -> None:
    created = create_key(api, ["runs:read"])
    with bearer(stack, str(created["key"])) as client:
        assert client.get("/v1/runs").status_code == 200
        assert other.delete(f"/v1/api-keys/{created['id']}").status_code == 404
        assert api.delete(f"/v1/api-keys/{created['id']}").status_code == 204
        refused = client.get("/v1/runs")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert api.delete(f"/v1/api-keys/{created['id']}").status_code == 404

    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    expiring = create_key(api, ["runs:read"], expires_at=soon.isoformat())
    with bearer(stack, str(expiring["key"])) as client:
        assert client.get("/v1/runs").status_code == 200
        time.sleep(2.5)
        assert client.get("/v1/runs").status_code == 401


def test_key_input_is_validated(api: Api, anon: httpx.Client) -> None:
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    for body in (
        {"name": "n", "scopes": []},
        {"name": "n", "scopes": ["admin"]},
        {"name": "", "scopes": ["runs:read"]},
        {"name": "n", "scopes": ["runs:read"], "expires_at": past},
        {"name": "n", "scopes": ["runs:read"], "expires_at": "2099-01-01T00:00:00"},
    ):
        assert api.post("/v1/api-keys", json=body).status_code == 422, body
    assert anon.get("/v1/api-keys").status_code == 401
    assert anon.get("/v1/runs", headers={"Authorization": "Bearer pk_not-a-key"}).status_code == 401


def test_the_websocket_accepts_keys_within_their_scopes(api: Api, stack: Stack) -> None:
    run = api.turn("hello")
    key = str(create_key(api, ["runs:read"])["key"])
    with connect(ws_url(stack, key), open_timeout=10) as ws:
        ws.send('{"type": "run.create", "message": "hi"}')
        refused = receive(ws)
        assert refused["type"] == "error" and refused["data"]["status"] == 403
        ws.send(f'{{"type": "subscribe", "run_id": "{run["id"]}"}}')
        assert receive(ws)["run_id"] == run["id"]
