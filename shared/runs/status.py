"""The statuses a run and a tool call can have: one enum each, kept by a CHECK constraint."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum


class RunStatus(StrEnum):
    """Where a run is in its life; only shared.runs.states moves it."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    # Waiting for a person to approve tool calls; no worker holds it (shared.runs.approvals).
    REQUIRES_ACTION = "requires_action"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


class ToolCallStatus(StrEnum):
    """A ledger row is pending until its outcome is recorded, once."""

    PENDING = "pending"
    COMPLETED = "completed"


TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
# Unfinished: a conversation's later turns wait behind any of these.
ACTIVE = frozenset({RunStatus.QUEUED, RunStatus.IN_PROGRESS, RunStatus.REQUIRES_ACTION})


def column_type(enum: type[StrEnum], name: str) -> Enum:
    """A VARCHAR holding the enum's values, with a CHECK constraint named `name`."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )
