"""Run and tool-call rows: the durable truth of every turn."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, JSONType, UTCDateTime, utcnow
from shared.ids import new_id
from shared.runs.status import RunStatus, ToolCallStatus, column_type


class Run(Base):
    """One chat turn. Status changes go through shared.runs.states only."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_runs_user_id_idempotency_key"),
        # The database, not a process lock, keeps one turn per conversation in progress.
        Index(
            "uq_runs_one_in_progress_per_conversation",
            "conversation_id",
            unique=True,
            postgresql_where=text("status = 'in_progress'"),
            sqlite_where=text("status = 'in_progress'"),
        ),
        Index("ix_runs_conversation_id_status", "conversation_id", "status"),
        Index("ix_runs_status_lease_until", "status", "lease_until"),
        Index("ix_runs_user_id_id", "user_id", "id"),
        # A user's unfinished runs: the per-user cap counts them in the claim.
        Index(
            "ix_runs_user_id_unfinished",
            "user_id",
            "status",
            "id",
            postgresql_where=text("status IN ('queued', 'in_progress')"),
            sqlite_where=text("status IN ('queued', 'in_progress')"),
        ),
        # Finished runs whose events the retention has not pruned yet.
        Index(
            "ix_runs_finished_at_unpruned",
            "finished_at",
            postgresql_where=text("events_pruned_at IS NULL"),
            sqlite_where=text("events_pruned_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("run"))
    user_id: Mapped[str] = mapped_column(String(255))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    status: Mapped[RunStatus] = mapped_column(
        column_type(RunStatus, "run_status"), default=RunStatus.QUEUED
    )
    input: Mapped[dict[str, Any]] = mapped_column(JSONType)
    output: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    multitask_strategy: Mapped[str] = mapped_column(String(16), default="enqueue")
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_token: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The run's event counter: every writer takes ids from it under the row's lock, mostly in
    # the same UPDATE that changes the status (see shared.events.store).
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    events_pruned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The agent and version the run was submitted with (shared.agents); null: the built-in
    # todo agent. No foreign key: the version row outlives a deleted agent anyway.
    agent_id: Mapped[str | None] = mapped_column(String(40))
    agent_version: Mapped[int | None] = mapped_column(Integer)
    # While requires_action: the tool calls waiting for a person's decision (the public
    # `required_action`); `lease_until` then holds the decision's deadline.
    required_action: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # When a person last answered: the resumed turn's deadline counts from then.
    resumed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ToolCall(Base):
    """A tool call of a run, keyed by (run, step, index): its effect happens once."""

    __tablename__ = "tool_calls"
    __table_args__ = (
        UniqueConstraint("run_id", "step", "call_index", name="uq_tool_calls_run_step_index"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("tc"))
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(255))
    step: Mapped[int] = mapped_column(Integer)
    call_index: Mapped[int] = mapped_column(Integer)
    model_call_id: Mapped[str] = mapped_column(String(255))
    tool_name: Mapped[str] = mapped_column(String(255))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    result: Mapped[Any] = mapped_column(JSONType, nullable=True)
    is_error: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ToolCallStatus] = mapped_column(
        column_type(ToolCallStatus, "tool_call_status"), default=ToolCallStatus.PENDING
    )
    # A call that needs a person's yes: null until decided, then "approved" or "rejected".
    approval: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def call_key(self) -> str:
        """The idempotency key a tool sees for this call."""
        return f"{self.run_id}:{self.step}:{self.call_index}"
