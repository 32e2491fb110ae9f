"""Every bad input is a JSON 422, never a 500, and an invalid submit creates nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import count, create_conversation
from tests.stack import Api, Stack

METADATA_17_KEYS = {f"k{i}": i for i in range(17)}
METADATA_TOO_BIG = {"blob": "x" * 4100}

BAD_RUN_BODIES: list[Any] = [
    {},
    {"message": ""},
    {"message": "   \n\t "},
    {"message": "x" * 32001},
    {"message": None},
    {"message": 42},
    {"message": ["hi"]},
    {"message": {"text": "hi"}},
    {"message": "hi", "unknown": 1},
    {"message": "hi", "user_id": "someone-else"},
    {"message": "hi", "multitask_strategy": "bogus"},
    {"message": "hi", "multitask_strategy": None},
    {"message": "hi", "metadata": METADATA_17_KEYS},
    {"message": "hi", "metadata": METADATA_TOO_BIG},
    {"message": "hi", "metadata": "not an object"},
    {"message": "hi", "metadata": [1, 2]},
    {"message": "hi", "conversation_id": ""},
    {"message": "hi", "conversation_id": 123},
    {"message": "hi", "conversation_id": "c" * 41},
    {"message": "hi", "webhook_url": 5},
    {"message": "nul \x00 byte"},
    {"message": "hi", "metadata": {"key\x00": "v"}},
    {"message": "hi", "metadata": {"k": "v\x00"}},
    {"message": "hi", "metadata": {"k": ["deep", {"deeper": "\x00"}]}},
    {"message": "hi", "conversation_id": "conv_\x00"},
    [],
    ["message", "hi"],
    "hi",
    42,
    None,
]

# Bodies Python's json module parses but a strict JSON store refuses, and bodies it cannot parse.
BAD_RAW_BODIES = [
    b'{"message": "hi", "metadata": {"n": NaN}}',
    b'{"message": "hi", "metadata": {"n": Infinity}}',
    b'{"message": "hi", "metadata": {"n": -Infinity}}',
    b'{"message": "hi", "metadata": {"n": 1e999}}',
    b'{"message": "\\ud800 lone surrogate"}',
    b'{"message": "hi", "metadata": {"\\udfff": 1}}',
    b'{"message": "\xff\xfe invalid utf-8"}',
    b'{"message": "\xc3\x28"}',
    b"\xef\xbb\xbf\xff",
    b'{"message": "hi", "metadata": {"n": ' + b"9" * 5000 + b"}}",
    b'{"message": "hi", "metadata": {"n": ' + b"[" * 50 + b"]" * 50 + b"}}",
    b"[" * 100_000,
    b'{"message": "hi"',
    b"message=hi",
    b"",
    b"null",
    b"\x00\x00\x00",
]


@pytest.mark.parametrize("index", range(len(BAD_RUN_BODIES)))
def test_bad_run_bodies_are_422_and_create_nothing(api: Api, stack: Stack, index: int) -> None:
    response = api.post("/v1/runs", json=BAD_RUN_BODIES[index])
    assert response.status_code == 422, (BAD_RUN_BODIES[index], response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert "detail" in response.json()
    assert count(stack, "conversations", user_id=api.user) == 0
    assert count(stack, "runs", user_id=api.user) == 0


def test_raw_bodies_that_are_not_storable_json_are_422(api: Api, stack: Stack) -> None:
    for raw in BAD_RAW_BODIES:
        for path in ("/v1/runs", "/v1/conversations", "/v1/tasks", f"/api/{api.user}/chat"):
            response = api.post(path, content=raw, headers={"Content-Type": "application/json"})
            assert response.status_code == 422, (raw[:60], path, response.text[:300])
            assert "detail" in response.json()
    for table in ("conversations", "runs", "tasks"):
        assert count(stack, table, user_id=api.user) == 0, table


def test_non_json_content_types_are_422(api: Api) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = api.post(
            "/v1/runs", content=b'{"message": "hi"}', headers={"Content-Type": content_type}
        )
        assert response.status_code == 422, (content_type, response.text)


def test_metadata_limits_are_inclusive(api: Api) -> None:
    sixteen = {f"k{i}": i for i in range(16)}
    assert api.post("/v1/runs", json={"message": "hi", "metadata": sixteen}).status_code == 202
    key_and_braces = len('{"b":""}')
    exactly_4k = {"b": "x" * (4096 - key_and_braces)}
    assert api.post("/v1/runs", json={"message": "hi", "metadata": exactly_4k}).status_code == 202
    assert api.post("/v1/runs", json={"message": "x" * 32000}).status_code == 202


def test_unknown_or_foreign_conversation_id_never_creates_a_conversation(
    api: Api, other: Api, stack: Stack
) -> None:
    theirs = create_conversation(other)
    before = count(stack, "conversations")
    for conversation_id in ("conv_missing", theirs["id"], "' OR 1=1 --", "ünïcödé", "%00"):
        body = {"message": "hi", "conversation_id": conversation_id}
        assert api.post("/v1/runs", json=body).status_code == 404, conversation_id
        assert api.post(f"/api/{api.user}/chat", json=body).status_code == 404, conversation_id
    assert count(stack, "conversations") == before
    assert count(stack, "runs", user_id=api.user) == 0


@pytest.mark.parametrize(
    "path",
    [
        "/v1/conversations?limit=0",
        "/v1/conversations?limit=101",
        "/v1/conversations?limit=-5",
        "/v1/conversations?limit=ten",
        "/v1/conversations?limit=99999999999999999999999",
        "/v1/conversations?after=",
        "/v1/conversations?after=%00",
        "/v1/conversations?after=" + "a" * 65,
        "/v1/conversations/conv%00x",
        "/v1/conversations/conv%00x/messages",
        "/v1/conversations/conv_x/messages?limit=0",
        "/v1/conversations/conv_x/messages?limit=101",
        "/v1/runs?limit=0",
        "/v1/runs?limit=101",
        "/v1/runs?status=done",
        "/v1/runs?conversation_id=%00",
        "/v1/runs?after=%00",
        "/v1/runs/run%00x",
        "/v1/runs/run%00x/events",
        "/v1/runs/run%00x/webhook-deliveries",
        "/v1/runs/run_x?wait=61",
        "/v1/runs/run_x?wait=-1",
        "/v1/runs/run_x?wait=nan",
        "/v1/runs/run_x?wait=inf",
        "/v1/runs/run_x?wait=soon",
        "/v1/tasks?status=bogus",
        "/v1/tasks/%00",
        "/v1/tasks/1%00",
    ],
)
def test_bad_query_and_path_parameters_are_422(api: Api, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 422, (path, response.text)
    assert isinstance(response.json()["detail"], list)


def test_bad_ids_in_mutating_routes_are_422_not_500(api: Api) -> None:
    assert api.delete("/v1/conversations/conv%00x").status_code == 422
    assert api.post("/v1/runs/run%00x/cancel").status_code == 422
    assert api.post("/v1/runs/run%00x/webhook-deliveries/redeliver").status_code == 422
    assert api.patch("/v1/tasks/%00", json={"title": "x"}).status_code == 422
    assert api.delete("/v1/tasks/%00").status_code == 422


def test_conversation_bodies_are_validated(api: Api, stack: Stack) -> None:
    bodies: tuple[dict[str, Any], ...] = (
        {"title": "t" * 501},
        {"title": 5},
        {"title": "nul\x00"},
        {"metadata": METADATA_17_KEYS},
        {"metadata": METADATA_TOO_BIG},
        {"metadata": []},
        {"id": "conv_chosen"},
        {"user_id": "someone"},
    )
    for body in bodies:
        response = api.post("/v1/conversations", json=body)
        assert response.status_code == 422, (body, response.text)
    assert count(stack, "conversations", user_id=api.user) == 0


def test_odd_but_valid_text_round_trips(api: Api) -> None:
    text = 'emoji 🎉, RTL \u202e, zero-width \u200b, CJK 漢字, quote " and \\ backslash'
    created = create_conversation(api, title=text, metadata={text: [text, 1.5, None, True]})
    fetched = api.get(f"/v1/conversations/{created['id']}").json()
    assert fetched["title"] == text
    assert fetched["metadata"] == {text: [text, 1.5, None, True]}
    run = api.turn(text)
    assert run["status"] == "completed" and run["input"]["message"] == text
