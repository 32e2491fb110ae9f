"""The worker's HTTP side against a real receiver: the guard, redirects, caps and timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from shared.config import Settings
from shared.webhooks import outbox
from shared.webhooks.outbox import AttemptResult
from tests.webhooks.receiver import Answer, Receiver
from worker.webhooks.sender import ERROR_SNIPPET_CHARS, PER_HOST_IN_FLIGHT, WebhookSender

HEADERS = {"webhook-id": "msg_test"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def post(url: str, *, allow_private: bool, timeout: float = 5) -> AttemptResult:
    async def go() -> AttemptResult:
        settings = Settings(webhook_allow_private=allow_private, webhook_timeout_seconds=timeout)
        sender = WebhookSender(settings)
        try:
            return await sender.post(url, b"{}", HEADERS)
        finally:
            await sender.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_guard_refuses_inside_addresses_without_connecting(receiver: Receiver, host: str) -> None:
    url = receiver.url("/hook").replace("127.0.0.1", host)
    result = post(url, allow_private=False)
    assert result.outcome == outbox.REFUSED, result
    assert result.error is not None and "loopback" in result.error
    assert receiver.requests("/hook") == []


def test_allowed_private_delivery_reaches_the_receiver(receiver: Receiver) -> None:
    result = post(receiver.url("/hook"), allow_private=True)
    assert (result.outcome, result.status_code, result.error) == (outbox.OK, 200, None)
    [request] = receiver.requests("/hook")
    assert request.headers["webhook-id"] == "msg_test"
    assert request.headers["content-type"] == "application/json"


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    target = receiver.url("/inside")
    receiver.answers("/hook", Answer(302, b"", (("Location", target),)))
    result = post(receiver.url("/hook"), allow_private=True)
    assert result.outcome == outbox.HTTP_ERROR and result.status_code == 302
    assert result.error is not None and "redirects are not followed" in result.error
    assert receiver.requests("/inside") == []


def test_big_error_bodies_are_read_only_up_to_the_cap(receiver: Receiver) -> None:
    receiver.answers("/hook", Answer(500, b"x" * 5_000_000))
    result = post(receiver.url("/hook"), allow_private=True)
    assert result.outcome == outbox.HTTP_ERROR and result.status_code == 500
    assert result.error is not None and len(result.error) <= ERROR_SNIPPET_CHARS + 20


def test_410_is_gone(receiver: Receiver) -> None:
    receiver.answers("/hook", Answer(410, b"unsubscribed"))
    assert post(receiver.url("/hook"), allow_private=True).outcome == outbox.GONE


def test_a_stalled_receiver_times_out(receiver: Receiver) -> None:
    receiver.answers("/hook", Answer(hang=10))
    result = post(receiver.url("/hook"), allow_private=True, timeout=0.5)
    assert result.outcome == outbox.TIMEOUT and result.status_code is None


def test_a_refused_connection_is_a_connection_error() -> None:
    closed = Receiver()  # never started: nothing listens on its port
    result = post(closed.url("/hook"), allow_private=True)
    assert result.outcome == outbox.CONNECTION_ERROR and result.error


def test_one_saturated_host_does_not_hold_slots_from_another() -> None:
    async def go() -> None:
        sender = WebhookSender(Settings(webhook_allow_private=True))
        release = asyncio.Event()
        holding = 0

        async def hold() -> None:
            nonlocal holding
            async with sender.slot("slow:80", wait=5) as ready:
                assert ready
                holding += 1
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(PER_HOST_IN_FLIGHT)]
        while holding < PER_HOST_IN_FLIGHT:
            await asyncio.sleep(0.01)
        async with sender.slot("slow:80", wait=0.1) as ready:
            assert not ready  # the slow host is full: the caller gives its claim back
        async with sender.slot("fast:80", wait=0.1) as ready:
            assert ready
        release.set()
        await asyncio.gather(*holders)
        assert sender._hosts == {}  # no per-host state is left behind
        await sender.aclose()

    asyncio.run(go())


def test_a_full_backlog_sheds_deliveries_to_the_sweeper(monkeypatch: pytest.MonkeyPatch) -> None:
    import worker.webhooks.sender as sender_module

    monkeypatch.setattr(sender_module, "MAX_BACKLOG", 2)

    async def go() -> list[bool]:
        sender = WebhookSender(Settings())
        gate = asyncio.Event()
        accepted = [sender.start(gate.wait(), name=f"d{i}") for i in range(3)]
        gate.set()
        await sender.aclose()
        return accepted

    assert asyncio.run(go()) == [True, True, False]
