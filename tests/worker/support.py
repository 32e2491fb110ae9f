"""Helpers for worker tests: publish tasks as a peer process would, plant runs, wait on logs."""

from __future__ import annotations

import datetime as dt
import queue
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fakellm import FakeLLM
from shared.db import sync_url
from shared.models import Run  # every model, so foreign keys resolve
from tests.stack import BIN, ROOT, Api, Stack

PUBLISH = (
    "import sys\n"
    "from shared.celery_app import celery_app\n"
    "print('ready', flush=True)\n"
    "for line in sys.stdin:\n"
    "    print(celery_app.send_task('runs.execute', args=[line.strip()]).id, flush=True)\n"
)


def tag() -> str:
    """A word that makes a message (and so its fake-LLM requests) unique to one test."""
    return f"t{uuid.uuid4().hex[:10]}"


class Publisher:
    """A peer process on the stack's broker, started ahead so a publish takes milliseconds."""

    def __init__(self, stack: Stack) -> None:
        self.popen = subprocess.Popen(
            [str(BIN / "python"), "-c", PUBLISH],
            cwd=ROOT,
            env=stack.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._line() == "ready"

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.strip())

    def _line(self) -> str:
        try:
            return self.lines.get(timeout=60)
        except queue.Empty:
            raise AssertionError("the publisher did not answer within 60 s") from None

    def execute(self, *run_ids: str) -> list[str]:
        """Send `runs.execute` for each id; returns the Celery task ids."""
        assert self.popen.stdin is not None
        self.popen.stdin.write("".join(f"{run_id}\n" for run_id in run_ids))
        self.popen.stdin.flush()
        return [self._line() for _ in run_ids]

    def close(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.close()
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def publish_execute(stack: Stack, *run_ids: str) -> list[str]:
    """Send `runs.execute` for each id through the stack's broker; returns the task ids."""
    with Publisher(stack) as publisher:
        return publisher.execute(*run_ids)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    """Poll `check` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def wait_tasks_done(stack: Stack, task_ids: list[str], timeout: float = 30) -> None:
    """Wait until the worker logged the end of each Celery task (by task id)."""

    def finished() -> bool:
        log = stack.procs["worker"].log()
        return all(f"runs.execute[{task_id}] succeeded" in log for task_id in task_ids)

    wait_for(f"tasks {task_ids} to finish", finished, timeout)


def insert_run(
    stack: Stack, user_id: str, conversation_id: str, message: str, **fields: Any
) -> str:
    """Plant a run row directly, as if its broker message (or its worker) had been lost."""
    engine = sa.create_engine(sync_url(stack.database_url), poolclass=sa.pool.NullPool)
    try:
        with Session(engine) as session:
            values: dict[str, Any] = {
                "meta": {},
                "multitask_strategy": "enqueue",
                "attempts": 0,
                "cancel_requested": False,
                **fields,
            }
            run = Run(
                user_id=user_id,
                conversation_id=conversation_id,
                input={"message": message},
                **values,
            )
            session.add(run)
            session.commit()
            return run.id
    finally:
        engine.dispose()


def ago(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)


def requests_for(llm: FakeLLM, message: str) -> list[dict[str, Any]]:
    """The model calls made for turns whose user message is exactly `message`."""
    found = []
    for request in list(llm.requests):
        users = [m for m in request["messages"] if m.get("role") == "user"]
        if users and users[-1].get("content") == message:
            found.append(request)
    return found


def count(stack: Stack, query: str, **params: Any) -> int:
    [(value,)] = stack.sql(query, **params)
    return int(value)


def run_row(stack: Stack, run_id: str) -> Any:
    [row] = stack.sql("select status, attempts, finished_at from runs where id = :id", id=run_id)
    return row


def ledger(stack: Stack, run_id: str) -> list[Any]:
    return stack.sql(
        "select id, step, call_index, status, result, is_error, completed_at "
        "from tool_calls where run_id = :id order by step, call_index",
        id=run_id,
    )


def assert_one_turn(api: Api, stack: Stack, run: dict[str, Any], title: str) -> None:
    """Exactly one user and one assistant message, one task and one ledger row."""
    messages = api.messages(run["conversation_id"])
    assert [m["role"] for m in messages] == ["user", "assistant"], messages
    assert [m["status"] for m in messages] == ["completed", "completed"]
    assert [t["title"] for t in api.get("/v1/tasks").json()["data"]] == [title]
    assert len(ledger(stack, run["id"])) == 1


def new_conversation(api: Api) -> str:
    response = api.post("/v1/conversations", json={})
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id
