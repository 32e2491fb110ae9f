"""Webhooks end to end: real API, worker and beat processes posting to a real receiver."""

from __future__ import annotations

import signal
import subprocess
import time

from standardwebhooks import Webhook

from tests.stack import BIN, ROOT, Api, Stack, free_port
from tests.webhooks.conftest import WORKER_THREADS, delivery_log, wait_delivery
from tests.webhooks.receiver import Answer, Received, Receiver

ATTEMPTS = 4  # DELIVERY_ENV's schedule has three retries


def verify(secret: str, request: Received) -> dict[str, object]:
    """What a receiver using the standardwebhooks package does; raises if it rejects."""
    event: dict[str, object] = Webhook(secret).verify(request.body, request.headers)
    return event


def test_a_completed_run_is_delivered_signed_with_the_final_run(
    client: Api, receiver: Receiver
) -> None:
    secret = client.get("/v1/webhook-secret").json()["secret"]
    assert secret.startswith("whsec_")
    assert client.get("/v1/webhook-secret").json()["secret"] == secret  # created once
    run = client.submit("Add a task to buy milk", webhook_url=receiver.url("/hook"))
    final = client.wait(run["id"])
    [request] = receiver.wait_for("/hook")

    event = verify(secret, request)
    assert event["type"] == "run.completed"
    assert event["data"] == {"run": final}
    assert set(event) == {"type", "timestamp", "data"}
    log = wait_delivery(client, run["id"], "delivered")
    assert [(a["attempt"], a["status_code"], a["error"]) for a in log["data"]] == [(1, 200, None)]
    assert log["data"][0]["duration_ms"] >= 0 and log["data"][0]["created_at"]
    assert log["delivery"]["webhook_id"] == request.headers["webhook-id"]


def test_failed_and_cancelled_runs_are_delivered_too(client: Api, receiver: Receiver) -> None:
    secret = client.get("/v1/webhook-secret").json()["secret"]
    failed = client.turn("[[error=400]] hello", webhook_url=receiver.url("/failed"))
    assert failed["status"] == "failed"
    event = verify(secret, receiver.wait_for("/failed")[0])
    assert event["type"] == "run.failed" and event["data"] == {"run": failed}

    # One run in progress, one queued behind it; a third interrupts both (API and worker paths).
    slow = client.submit("[[latency=5]] hello", webhook_url=receiver.url("/in-progress"))
    conversation = slow["conversation_id"]
    queued = client.submit(
        "second", conversation_id=conversation, webhook_url=receiver.url("/queued")
    )
    client.submit("third", conversation_id=conversation, multitask_strategy="interrupt")
    for path, run in (("/queued", queued), ("/in-progress", slow)):
        final = client.wait(run["id"])
        assert final["status"] == "cancelled"
        event = verify(secret, receiver.wait_for(path)[0])
        assert event["type"] == "run.cancelled" and event["data"] == {"run": final}


def test_a_receiver_failing_twice_gets_three_attempts_with_one_webhook_id(
    client: Api, receiver: Receiver
) -> None:
    secret = client.get("/v1/webhook-secret").json()["secret"]
    url = receiver.answers("/flaky", Answer(500, b"oops"), Answer(503), Answer(204, b""))
    run = client.turn("Add a task to call mom", webhook_url=url)
    log = wait_delivery(client, run["id"], "delivered")
    assert [(a["attempt"], a["status_code"]) for a in log["data"]] == [(1, 500), (2, 503), (3, 204)]
    assert log["data"][0]["error"] == "HTTP 500: oops"
    requests = receiver.requests("/flaky")
    assert len(requests) == 3
    assert {r.headers["webhook-id"] for r in requests} == {log["delivery"]["webhook_id"]}
    bodies = {r.body for r in requests}
    assert len(bodies) == 1  # every retry carries the same bytes
    for request in requests:
        verify(secret, request)


def test_a_receiver_down_past_every_attempt_fails_visibly_and_redeliver_works(
    client: Api,
) -> None:
    port = free_port()  # nothing listens here yet
    down = Receiver(port)
    run = client.turn("hello", webhook_url=down.url("/down"))
    log = wait_delivery(client, run["id"], "failed")
    assert [a["attempt"] for a in log["data"]] == list(range(1, ATTEMPTS + 1))
    assert all(a["status_code"] is None and a["error"] for a in log["data"])
    assert log["delivery"]["next_attempt_at"] is None

    down.start()
    try:
        response = client.post(f"/v1/runs/{run['id']}/webhook-deliveries/redeliver")
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending"
        [request] = down.wait_for("/down")
        log = wait_delivery(client, run["id"], "delivered")
        assert [a["attempt"] for a in log["data"]] == list(range(1, ATTEMPTS + 2))
        assert log["data"][-1]["status_code"] == 200
        assert request.headers["webhook-id"] == log["delivery"]["webhook_id"]
    finally:
        down.stop()


def test_410_gone_stops_retrying(client: Api, receiver: Receiver) -> None:
    url = receiver.answers("/gone", Answer(410, b"bye"))
    run = client.turn("hello", webhook_url=url)
    log = wait_delivery(client, run["id"], "failed")
    time.sleep(1.5)  # the schedule's retries would have come by now
    assert len(receiver.requests("/gone")) == 1
    assert [a["status_code"] for a in delivery_log(client, run["id"])["data"]] == [410]
    assert "410" in log["data"][0]["error"]


def test_redirects_are_not_followed(client: Api, receiver: Receiver) -> None:
    inside = receiver.url("/inside")
    url = receiver.answers("/redirect", Answer(307, b"", (("Location", inside),)))
    run = client.turn("hello", webhook_url=url)
    log = wait_delivery(client, run["id"], "failed")
    assert [a["status_code"] for a in log["data"]] == [307] * ATTEMPTS
    assert receiver.requests("/inside") == []


def test_a_stalled_attempt_times_out_and_is_retried(client: Api, receiver: Receiver) -> None:
    url = receiver.answers("/stall-once", Answer(hang=60), Answer(200))
    run = client.turn("hello", webhook_url=url)
    log = wait_delivery(client, run["id"], "delivered", timeout=60)
    first, second = log["data"]
    assert first["status_code"] is None and first["error"] == "no answer within 8 s"
    assert first["duration_ms"] >= 8000
    assert second["status_code"] == 200


def test_secret_rotation_signs_with_both_secrets(client: Api, receiver: Receiver) -> None:
    old = client.get("/v1/webhook-secret").json()["secret"]
    rotated = client.post("/v1/webhook-secret/rotate")
    assert rotated.status_code == 200, rotated.text
    assert "whsec_" not in rotated.text  # only GET /v1/webhook-secret shows a secret
    assert set(rotated.json()) == {"rotated_at", "previous_secret_expires_at"}
    new = client.get("/v1/webhook-secret").json()["secret"]
    assert new != old

    client.turn("hello", webhook_url=receiver.url("/rotated"))
    [request] = receiver.wait_for("/rotated")
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    verify(new, request)
    verify(old, request)


def test_deliveries_are_private_and_redeliver_needs_an_ended_run_with_a_url(
    client: Api, wh_stack: Stack, receiver: Receiver
) -> None:
    run = client.turn("hello", webhook_url=receiver.url("/mine"))
    wait_delivery(client, run["id"], "delivered")
    with wh_stack.client() as other:
        assert other.get(f"/v1/runs/{run['id']}/webhook-deliveries").status_code == 404
        redeliver = other.post(f"/v1/runs/{run['id']}/webhook-deliveries/redeliver")
        assert redeliver.status_code == 404
        assert other.get("/v1/webhook-secret").json() != client.get("/v1/webhook-secret").json()
    assert client.get("/v1/runs/run_nope/webhook-deliveries").status_code == 404
    assert client.get(f"/v1/runs/{'x' * 65}/webhook-deliveries").status_code == 422

    plain = client.turn("hello")
    assert delivery_log(client, plain["id"]) == {"data": [], "delivery": None}
    no_url = client.post(f"/v1/runs/{plain['id']}/webhook-deliveries/redeliver")
    assert no_url.status_code == 409 and "webhook_url" in no_url.json()["detail"]

    running = client.submit("[[latency=3]] hello", webhook_url=receiver.url("/later"))
    early = client.post(f"/v1/runs/{running['id']}/webhook-deliveries/redeliver")
    assert early.status_code == 409 and "not ended" in early.json()["detail"]
    client.wait(running["id"])
    receiver.wait_for("/later")


def test_a_slow_receiver_blocks_neither_turns_nor_other_deliveries(
    client: Api, receiver: Receiver
) -> None:
    stall = receiver.answers("/stall", Answer(hang=60))
    stalled = [client.submit(f"stall {i}", webhook_url=stall) for i in range(WORKER_THREADS + 2)]
    receiver.wait_for("/stall", len(stalled))  # every one is an open request now

    run = client.turn("Add a task to water plants", webhook_url=receiver.url("/fast"))
    assert run["status"] == "completed"
    receiver.wait_for("/fast")
    # Delivered while every stalled attempt was still open (none has been logged yet).
    assert all(delivery_log(client, s["id"])["data"] == [] for s in stalled)


def test_an_attempt_cut_by_a_dead_worker_is_logged_and_retried(
    client: Api, wh_stack: Stack, receiver: Receiver
) -> None:
    url = receiver.answers("/hang-once", Answer(hang=120), Answer(200))
    run = client.turn("hello", webhook_url=url)
    receiver.wait_for("/hang-once")
    wh_stack.kill("worker", signal.SIGKILL)
    wh_stack.start_worker(concurrency=WORKER_THREADS)

    first, second = receiver.wait_for("/hang-once", 2, timeout=60)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    log = wait_delivery(client, run["id"], "delivered")
    assert [(a["attempt"], a["status_code"]) for a in log["data"]] == [(1, None), (2, 200)]
    assert "attempt was lost" in log["data"][0]["error"]


def test_a_lost_send_is_recovered_from_the_outbox(
    client: Api, wh_stack: Stack, receiver: Receiver
) -> None:
    wh_stack.kill("worker", signal.SIGTERM)
    try:
        # The API ends this run itself (a queued cancel), so its delivery is sent by the API.
        run = client.submit("hello", webhook_url=receiver.url("/recovered"))
        assert client.post(f"/v1/runs/{run['id']}/cancel").status_code == 200
        # ...and the broker loses every message of the webhooks queue.
        purge = subprocess.run(
            [str(BIN / "celery"), "-A", "worker.app", "purge", "-f", "-Q", "webhooks"],
            cwd=ROOT,
            env=wh_stack.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Purged" in purge.stdout and "No messages" not in purge.stdout, purge.stdout
    finally:
        wh_stack.start_worker(concurrency=WORKER_THREADS)
    [request] = receiver.wait_for("/recovered", timeout=60)
    assert (
        request.headers["webhook-id"] == delivery_log(client, run["id"])["delivery"]["webhook_id"]
    )


def test_secrets_never_reach_the_logs_or_other_output(client: Api, wh_stack: Stack) -> None:
    secret = client.get("/v1/webhook-secret").json()["secret"]
    run = client.turn("hello", webhook_url="http://127.0.0.1:9/never")
    assert secret not in client.get(f"/v1/runs/{run['id']}").text
    assert secret not in client.get(f"/v1/runs/{run['id']}/webhook-deliveries").text
    for proc in wh_stack.procs.values():
        assert secret.removeprefix("whsec_") not in proc.log_path.read_text(errors="replace")
