"""Keep-alive pings and retention, on a stack with short intervals (EVENT_* settings)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakellm import FakeLLM
from tests.api.sse import read_events
from tests.conftest import TIERS, running_stack
from tests.stack import Api, Stack

SHORT = {
    "EVENT_PING_SECONDS": "0.3",
    "EVENT_RETENTION_HOURS": "0.0005",  # 1.8 s
    "EVENT_PRUNE_INTERVAL_SECONDS": "1",
}


@pytest.fixture(scope="module", params=TIERS)
def short_stack(
    request: pytest.FixtureRequest, llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tier = str(request.param)
    workdir: Path = tmp_path_factory.mktemp(f"retention-{tier}")
    with running_stack(request, tier, workdir, llm, extra_env=SHORT) as stack:
        yield stack


@pytest.fixture
def client(short_stack: Stack) -> Iterator[Api]:
    with short_stack.client() as api:
        yield api


def test_idle_streams_get_ping_comments(client: Api) -> None:
    run = client.submit("[[latency=1.5]] take your time")
    stream = read_events(client, run["id"])
    assert stream.ended and stream.types[-1] == "run.completed"
    assert stream.comments.count(": ping") >= 2, stream.raw[:20]


def test_a_run_longer_than_retention_keeps_its_events_while_it_runs(client: Api) -> None:
    run = client.submit("[[stream=8,0.4]] slow and steady")
    stream = read_events(client, run["id"])
    assert stream.ids == list(range(1, len(stream.ids) + 1))
    assert stream.types.count("message.delta") == 8 and stream.types[-1] == "run.completed"


def test_events_are_pruned_after_retention_and_the_end_stays_readable(
    client: Api, short_stack: Stack
) -> None:
    done = client.turn("remind me to back up the laptop")
    full = read_events(client, done["id"])
    last = full.ids[-1]
    deadline = time.monotonic() + 30
    while short_stack.sql("select count(*) from run_events where run_id = :r", r=done["id"])[0][0]:
        assert time.monotonic() < deadline, "events were never pruned"
        time.sleep(0.5)
    pruned = short_stack.sql(
        "select last_event_seq, events_pruned_at from runs where id = :r", r=done["id"]
    )
    assert pruned[0][0] == last and pruned[0][1] is not None

    late = read_events(client, done["id"])
    assert late.ended and late.ids == [last] and late.types == ["run.completed"]
    assert late.events[0].data["run"]["output"] == full.events[-1].data["run"]["output"]
    assert read_events(client, done["id"], after=last, seconds=10).events == []
