"""This machine's RabbitMQ for the `rabbitmq` tier: a private vhost per test stack, so parallel
test sessions never share queues, and a broker restart for the chaos tests."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

from kombu.connection import Connection
from kombu.utils.url import url_to_parts

# The node's AMQP listener; each stack gets its own vhost on it.
AMQP_BASE_URL = os.environ.get("PARLEY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")


def _ctl(*args: str, timeout: float = 60) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=timeout)


class RabbitVhost:
    """A vhost of its own on the machine's RabbitMQ, deleted with the stack."""

    def __init__(self) -> None:
        self.name = f"parley-test-{uuid.uuid4().hex[:10]}"

    @property
    def url(self) -> str:
        return f"{AMQP_BASE_URL}/{self.name}"

    def create(self) -> RabbitVhost:
        user = url_to_parts(AMQP_BASE_URL).username or "guest"
        _ctl("add_vhost", self.name)
        _ctl("set_permissions", "-p", self.name, user, ".*", ".*", ".*")
        return self

    def delete(self) -> None:
        _ctl("delete_vhost", self.name)


def stop_broker() -> None:
    """Stop the RabbitMQ application (the Erlang node stays up to start it again)."""
    _ctl("stop_app")


def start_broker() -> None:
    """Start the RabbitMQ application and wait until it accepts AMQP connections."""
    _ctl("start_app")
    wait_reachable(60)


def wait_reachable(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with Connection(AMQP_BASE_URL + "//", connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
                conn.ensure_connection(max_retries=1, timeout=2)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def check_reachable() -> None:
    """The rabbitmq tier was asked for: the broker and rabbitmqctl must answer (fail, not skip)."""
    try:
        wait_reachable(5)
        _ctl("list_vhosts", timeout=30)
    except Exception as exc:
        raise RuntimeError(f"rabbitmq tier: RabbitMQ at {AMQP_BASE_URL} unusable: {exc}") from exc
