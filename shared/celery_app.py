"""The Celery app both sides share: the API enqueues by task name, the worker registers tasks."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from celery import Celery
from kombu.transport import sqlalchemy as kombu_sqlalchemy

from shared import logcontext
from shared.config import Settings, get_settings
from shared.queues import QUEUES as QUEUES  # re-exported: the watchdog reads it here

log = logging.getLogger(__name__)

TASK_ROUTES = {
    "runs.execute": {"queue": "runs"},
    "runs.sweep": {"queue": "maintenance"},
    "events.*": {"queue": "maintenance"},
    "webhooks.*": {"queue": "webhooks"},
}


def _prepare_sqlite_broker(url: str) -> None:
    """Put the embedded broker's SQLite file in WAL mode so API, worker and beat share it."""
    path = Path(url.removeprefix("sqla+sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=30) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


def create_celery(settings: Settings) -> Celery:
    """Build the Celery app for these settings (Redis or RabbitMQ broker, SQLite when embedded)."""
    broker = settings.broker_url
    app = Celery(
        "parley",
        broker=broker,
        include=["worker.tasks.runs", "worker.tasks.events", "worker.tasks.webhooks"],
    )
    transport_options: dict[str, Any] = {}
    if broker.startswith("sqla+sqlite"):
        _prepare_sqlite_broker(broker)
        # Celery 5.7 never passes broker_polling_interval to kombu, and kombu hands transport
        # options to create_engine (a polling_interval there raises TypeError): set it on the
        # SQLAlchemy transport class. Measured: pickup p50 1024 ms at kombu's 1 s default,
        # 86 ms at 50 ms (bench/, docs/field-notes.md).
        kombu_sqlalchemy.Transport.polling_interval = settings.broker_polling_interval
        # Passed to create_engine by kombu's SQLAlchemy transport: sqlite3's busy timeout.
        transport_options["connect_args"] = {"timeout": 30, "check_same_thread": False}
    elif broker.startswith(("amqp://", "amqps://", "pyamqp://")):
        # RabbitMQ redelivers an unacked message when its consumer's connection drops, not on a
        # timer: there is no visibility timeout. Its consumer_timeout (30 min by default) closes
        # a channel holding a delivery unacked for longer; our acks come within milliseconds
        # (a task only claims its run) and countdowns are at most 60 s, far inside it.
        # Publisher confirms: a publish the broker did not take raises, so `send` reports it and
        # the sweeper re-dispatches, instead of a message vanishing during a broker restart.
        transport_options["confirm_publish"] = True
    else:
        # Redelivery of an unacked message after a lost worker; our lease + sweeper is the
        # fast path, so this only bounds the broker's own recovery (celery #5935).
        transport_options["visibility_timeout"] = 3600
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue="runs",
        task_routes=TASK_ROUTES,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        # On a lost broker connection, deliveries in flight cannot be acked any more and come
        # back; cancelling their tasks is Celery 6's default and harmless here (a task only
        # claims, and a second delivery meets the claim's compare-and-set).
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_transport_options=transport_options,
        # The embedded broker polls; 50 ms gives ~tens of ms pickup (docs/field-notes.md: the
        # 1 s default gave p50 545 ms).
        broker_polling_interval=settings.broker_polling_interval,
        # A publish must not hang a request: give up fast, the sweeper re-dispatches.
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        broker_connection_timeout=2,
        worker_hijack_root_logger=False,
        # Task events cost four broker messages per turn; Flower turns the workers' on when it
        # starts (its --enable_events default), so they are paid only while someone watches.
        worker_send_task_events=False,
        task_send_sent_event=False,
        beat_schedule={
            "runs.sweep": {
                "task": "runs.sweep",
                "schedule": settings.sweep_interval_seconds,
                # A sweep that waited longer than the interval is stale: the next one is due.
                "options": {"expires": settings.sweep_interval_seconds},
            },
            # Sends webhook retries due after a long backoff, and deliveries whose send was lost.
            "webhooks.sweep": {
                "task": "webhooks.sweep",
                "schedule": settings.sweep_interval_seconds,
            },
            "events.prune": {
                "task": "events.prune",
                "schedule": settings.event_prune_interval_seconds,
            },
        },
        timezone="UTC",
    )
    return app


celery_app = create_celery(get_settings())
# The message header that carries the API request id to the worker (shared.logcontext).
REQUEST_ID_HEADER = "parley_request_id"


def send(task_name: str, *args: Any, countdown: float | None = None) -> bool:
    """Publish a task by name; False (logged) if the broker is unreachable right now. The API
    request that caused it travels in a header, so the worker's lines name it too."""
    request_id = logcontext.current().get("request_id")
    headers = {REQUEST_ID_HEADER: request_id} if request_id else None
    try:
        celery_app.send_task(task_name, args=list(args), countdown=countdown, headers=headers)
    except Exception:
        log.warning("dispatch of %s %s failed; the sweeper will retry", task_name, args)
        return False
    return True


def prepare_broker(app: Celery | None = None) -> None:
    """Create the SQL broker's tables and queue rows once, in the release step.

    kombu's SQLAlchemy transport creates its tables and queue rows lazily in every process;
    web, worker and beat started together on a fresh database race on that (`table
    kombu_message already exists`, `UNIQUE constraint failed: kombu_queue.name`; a worker died
    with "Unrecoverable error" or left the first turn queued for a minute). Declared here first,
    every process finds them. Idempotent; Redis needs nothing.
    """
    app = app or celery_app
    if not str(app.conf.broker_url).startswith("sqla+"):
        return
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in QUEUES:
            channel.queue_declare(queue=queue)
