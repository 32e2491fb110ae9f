"""Webhook rows: per-user signing secrets, the outbox of owed events, and every attempt made."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, UTCDateTime, utcnow
from shared.ids import new_id


class WebhookSecret(Base):
    """A user's signing secret; after a rotation the previous one still signs for a while."""

    __tablename__ = "webhook_secrets"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    previous_secret: Mapped[str | None] = mapped_column(String(128))
    previous_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        # Never let a secret reach a log line through a repr.
        return f"WebhookSecret(user_id={self.user_id!r})"


class WebhookMessage(Base):
    """The transactional outbox: an event owed to a run's webhook_url.

    Written in the transaction that ends the run (one per run), or that makes it wait for a
    person (`run.requires_action`, one per pause); its id is the `webhook-id` header, stable
    across retries and redeliveries so receivers can deduplicate. `payload` is the exact body,
    frozen when the event happened, so every attempt sends the same bytes.
    """

    __tablename__ = "webhook_messages"
    __table_args__ = (
        # One ending per run; a run may pause for approval several times before it.
        Index(
            "uq_webhook_messages_run_id_ending",
            "run_id",
            unique=True,
            postgresql_where=text("event_type <> 'run.requires_action'"),
            sqlite_where=text("event_type <> 'run.requires_action'"),
        ),
        Index("ix_webhook_messages_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("msg"))
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(Text)
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    # pending (an attempt is due or in flight), delivered, failed (the round gave up).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    round_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One delivery attempt and how it went; `outcome` is what /metrics counts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "attempt", name="uq_webhook_deliveries_message_attempt"),
        Index("ix_webhook_deliveries_run_id_attempt", "run_id", "attempt"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("wda"))
    message_id: Mapped[str] = mapped_column(ForeignKey("webhook_messages.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    # delivered | gone | http_error | timeout | connection_error | refused | worker_lost
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
