"""A run with a webhook_url that waits for a person gets a signed `run.requires_action` webhook
(its own webhook-id), and after the decision its ending's webhook as usual."""

from __future__ import annotations

from standardwebhooks import Webhook

from tests.api.test_tool_approvals import approving_agent, decide, new_task, wait_for_action
from tests.stack import Api
from tests.webhooks.conftest import wait_delivery
from tests.webhooks.receiver import Receiver
from tests.worker.support import tag


def test_a_waiting_run_sends_a_signed_requires_action_webhook_then_its_ending(
    client: Api, receiver: Receiver
) -> None:
    secret = client.get("/v1/webhook-secret").json()["secret"]
    agent = approving_agent(client)
    task_id = new_task(client, f"old {tag()}")
    url = receiver.url("/approvals")
    run = client.submit(f"delete task {task_id} {tag()}", agent_id=agent["id"], webhook_url=url)
    waiting = wait_for_action(client, run["id"])
    [paused] = receiver.wait_for("/approvals")
    event = Webhook(secret).verify(paused.body, paused.headers)
    assert event["type"] == "run.requires_action"
    assert event["data"] == {"run": waiting}
    [call] = waiting["required_action"]["tool_calls"]

    assert (
        decide(client, run["id"], {"tool_call_id": call["id"], "approve": True}).status_code == 200
    )
    final = client.wait(run["id"])
    assert final["status"] == "completed"
    [_, ended] = receiver.wait_for("/approvals", count=2)
    event = Webhook(secret).verify(ended.body, ended.headers)
    assert event["type"] == "run.completed" and event["data"] == {"run": final}
    assert ended.headers["webhook-id"] != paused.headers["webhook-id"]
    # The delivery log and redeliver are about the ending's webhook.
    log = wait_delivery(client, run["id"], "delivered")
    assert log["delivery"]["webhook_id"] == ended.headers["webhook-id"]
    assert [a["attempt"] for a in log["data"]] == [1]
