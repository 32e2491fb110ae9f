"""Run events over SSE: order, resume after N (mid-run, after the end, from another API
process), concurrent followers, disconnects, cancels and errors (docs/api.md section 5)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.sse import TERMINAL, Stream, read_events
from tests.stack import BIN, Api, Stack, free_port

SLOW = "[[stream=30,0.1]] tell me a story"  # 30 deltas over ~3 s


def wait_for_status(api: Api, run_id: str, status: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while api.get(f"/v1/runs/{run_id}").json()["status"] != status:
        assert time.monotonic() < deadline, f"run {run_id} never reached {status}"
        time.sleep(0.05)


def assert_whole_story(stream: Stream) -> None:
    """Ids 1..N without gaps, the contract's order, exactly one terminal event, last."""
    assert stream.ids == list(range(1, len(stream.ids) + 1)), stream.ids
    assert stream.types[0] == "run.queued"
    assert stream.types[-1] in TERMINAL
    assert sum(t in TERMINAL for t in stream.types) == 1


@pytest.fixture(scope="module")
def second_api(stack: Stack) -> Iterator[str]:
    """Another uvicorn on the same database and Redis: a second API instance."""
    port = free_port()
    name = f"web-second-{port}"
    command = [str(BIN / "uvicorn"), "--factory", "api.main:app_factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    command += ["--timeout-graceful-shutdown", "3"]
    stack.start_proc(name, command)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, stack.procs[name].log()[-3000:]
        time.sleep(0.1)
    yield url
    stack.kill(name)


def test_a_turn_streams_every_event_in_order(api: Api) -> None:
    run = api.submit("Add a task to buy milk")
    stream = read_events(api, run["id"])

    assert stream.status == 200 and stream.ended
    assert_whole_story(stream)
    types = stream.types
    assert types[:2] == ["run.queued", "run.in_progress"]
    assert types[2:4] == ["tool_call.started", "tool_call.completed"]
    assert types[-2:] == ["message.completed", "run.completed"]
    assert set(types[4:-2]) == {"message.delta"}
    started, completed = stream.events[2].data["tool_call"], stream.events[3].data["tool_call"]
    assert started["tool_name"] == "add_task" and started["arguments"] == {"title": "buy milk"}
    assert started["result"] is None and completed["id"] == started["id"]
    assert completed["result"]["status"] == "created" and completed["is_error"] is False
    final = stream.events[-1].data["run"]
    assert final["id"] == run["id"] and final["status"] == "completed"
    assert stream.text == final["output"]["response"]
    message = stream.events[-2].data["message"]
    assert message["role"] == "assistant" and message["content"] == stream.text
    assert message["tool_calls"][0]["id"] == started["id"]
    # The frames are plain SSE: id, event, data.
    first = stream.raw.index("id: 1")
    assert stream.raw[first + 1] == "event: run.queued"
    assert stream.raw[first + 2].startswith('data: {"run":')


def test_resume_mid_run_with_last_event_id_and_after(api: Api) -> None:
    run = api.submit(SLOW)
    head = read_events(api, run["id"], stop_after=5)
    assert head.ids == [1, 2, 3, 4, 5] and not head.ended
    middle = read_events(api, run["id"], last_event_id="5", stop_after=5)
    assert middle.ids == [6, 7, 8, 9, 10]
    assert api.get(f"/v1/runs/{run['id']}").json()["status"] == "in_progress"
    tail = read_events(api, run["id"], after=10)
    assert tail.ended and tail.ids[0] == 11

    whole = Stream(200, head.events + middle.events + tail.events)
    assert_whole_story(whole)
    assert whole.text == "".join(f" chunk{i}" for i in range(1, 31)).strip()


def test_resume_after_the_end_replays_exactly_the_rest(api: Api) -> None:
    done = api.turn("remind me to water the plants")
    full = read_events(api, done["id"])
    assert_whole_story(full)
    last = full.ids[-1]
    for n in (0, 2, last - 1):
        again = read_events(api, done["id"], after=n)
        assert again.ended and again.ids == list(range(n + 1, last + 1))
        assert [e.data for e in again.events] == [e.data for e in full.events[n:]]
    # Resuming at the end (or past it) closes at once with nothing to send.
    for n in (last, last + 50):
        assert read_events(api, done["id"], after=n, seconds=10).events == []
    # The header wins when it is further along than the query (a reconnecting EventSource).
    both = read_events(api, done["id"], after=1, last_event_id=str(last - 1))
    assert both.ids == [last]


def test_resume_from_another_api_process(api: Api, second_api: str) -> None:
    run = api.submit(SLOW)
    head = read_events(api, run["id"], stop_after=4)
    assert head.ids == [1, 2, 3, 4]
    tail = read_events(api, run["id"], last_event_id="4", base_url=second_api)
    assert tail.ended and tail.ids[0] == 5
    assert_whole_story(Stream(200, head.events + tail.events))
    # And after the end, from either process, the same events.
    here = read_events(api, run["id"], after=2)
    there = read_events(api, run["id"], after=2, base_url=second_api)
    assert here.ids == there.ids == list(range(3, tail.ids[-1] + 1))
    assert [e.data for e in here.events] == [e.data for e in there.events]


def test_a_run_followed_live_from_another_process(api: Api, second_api: str) -> None:
    run = api.submit("[[stream=10,0.05]] hello")
    stream = read_events(api, run["id"], base_url=second_api)
    assert_whole_story(stream)
    assert stream.types.count("message.delta") == 10


def test_two_followers_see_the_same_events(api: Api, stack: Stack) -> None:
    run = api.submit(SLOW)
    results: dict[str, Stream] = {}

    def follow(name: str) -> None:
        with stack.client(api.user) as client:
            results[name] = read_events(client, run["id"])

    threads = [threading.Thread(target=follow, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results["a"].ended and results["b"].ended
    assert_whole_story(results["a"])
    assert [(e.id, e.type, e.data) for e in results["a"].events] == [
        (e.id, e.type, e.data) for e in results["b"].events
    ]


def test_disconnecting_does_not_cancel_the_run(api: Api) -> None:
    run = api.submit("[[stream=15,0.1]] keep going")
    partial = read_events(api, run["id"], stop_after=4)
    assert not partial.ended
    done = api.wait(run["id"])
    assert done["status"] == "completed"
    assert done["output"]["response"].endswith("chunk15")
    assert read_events(api, run["id"]).types[-1] == "run.completed"


def test_cancelling_a_running_turn_ends_its_stream(api: Api) -> None:
    run = api.submit("[[stream=50,0.1]] long answer")
    head = read_events(api, run["id"], stop_after=4)
    assert head.types[-1] == "message.delta"
    assert api.post(f"/v1/runs/{run['id']}/cancel").status_code == 200
    rest = read_events(api, run["id"], after=4)
    assert rest.ended and rest.types[-1] == "run.cancelled"
    whole = Stream(200, head.events + rest.events)
    assert_whole_story(whole)
    assert "chunk50" not in whole.text
    message = next(e for e in whole.events if e.type == "message.completed").data["message"]
    assert message["status"] == "incomplete" and message["content"] == whole.text
    assert rest.events[-1].data["run"]["status"] == "cancelled"


def test_cancelling_a_queued_turn_streams_its_end(api: Api) -> None:
    first = api.submit("[[stream=20,0.1]] busy")
    wait_for_status(api, first["id"], "in_progress")
    queued = api.submit("wait for me", conversation_id=first["conversation_id"])
    opened = read_events(api, queued["id"], stop_after=1)
    assert opened.types == ["run.queued"]

    results: list[Stream] = []
    follower = threading.Thread(target=lambda: results.append(read_events(api, queued["id"])))
    follower.start()
    time.sleep(0.3)
    assert api.post(f"/v1/runs/{queued['id']}/cancel").status_code == 200
    follower.join(30)
    assert results and results[0].ended
    assert results[0].types == ["run.queued", "run.cancelled"] and results[0].ids == [1, 2]
    assert results[0].events[1].data["run"]["status"] == "cancelled"
    api.post(f"/v1/runs/{first['id']}/cancel")


def test_a_failed_turn_ends_with_run_failed(api: Api) -> None:
    run = api.submit("[[error=400]] this will not work")
    stream = read_events(api, run["id"])
    assert stream.types == ["run.queued", "run.in_progress", "run.failed"]
    assert stream.events[-1].data["run"]["error"]["code"] == "llm_bad_response"


def test_foreign_unknown_and_malformed_requests(api: Api, other: Api) -> None:
    run = api.turn("hello there")
    assert read_events(other, run["id"]).status == 404
    assert read_events(api, "run_doesnotexist").status == 404
    anonymous = httpx.Client(base_url=str(api.base_url), timeout=10)
    assert anonymous.get(f"/v1/runs/{run['id']}/events").status_code == 401
    anonymous.close()
    for bad in ("abc", "-1", "1.5", "²", "99999999999999"):
        header = {b"Last-Event-ID": bad.encode("latin-1")}
        response = api.get(f"/v1/runs/{run['id']}/events", headers=header)
        assert response.status_code == 422, (bad, response.text)
    for bad in ("-1", "x", "1e3"):
        response = api.get(f"/v1/runs/{run['id']}/events", params={"after": bad})
        assert response.status_code == 422, (bad, response.text)


def test_a_client_that_never_reads_does_not_hold_up_the_run(api: Api, stack: Stack) -> None:
    run = api.submit("[[stream=300,0.002]] a flood of tokens")
    host, port = stack.api_url.removeprefix("http://").split(":")
    request = (
        f"GET /v1/runs/{run['id']}/events HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {api.headers['Authorization']}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as stalled:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        stalled.sendall(request.encode())
        done = api.wait(run["id"])  # while that client reads nothing at all
        assert done["status"] == "completed"
        reader = read_events(api, run["id"])
        assert reader.types.count("message.delta") == 300 and reader.ended
