"""runs keep their own event counter; run and tool-call statuses are CHECKed

The counter moves from `run_event_streams` onto the run row, so a status change bumps it in the
same UPDATE (one statement fewer per event); retention reads `runs.finished_at` and marks
`runs.events_pruned_at`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 09:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_STATUSES = ("queued", "in_progress", "completed", "failed", "cancelled")
TOOL_CALL_STATUSES = ("pending", "completed")


def _in(values: Sequence[str]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("last_event_seq", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("events_pruned_at", shared.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_check_constraint("run_status", _in(RUN_STATUSES))
    op.execute(
        "UPDATE runs SET "
        "last_event_seq = COALESCE("
        "(SELECT s.last_seq FROM run_event_streams s WHERE s.run_id = runs.id), 0), "
        "events_pruned_at = "
        "(SELECT s.pruned_at FROM run_event_streams s WHERE s.run_id = runs.id)"
    )
    op.create_index(
        "ix_runs_finished_at_unpruned",
        "runs",
        ["finished_at"],
        postgresql_where=sa.text("events_pruned_at IS NULL"),
        sqlite_where=sa.text("events_pruned_at IS NULL"),
    )
    with op.batch_alter_table("tool_calls") as batch:
        batch.create_check_constraint("tool_call_status", _in(TOOL_CALL_STATUSES))
    op.drop_index("ix_run_event_streams_ended_at", table_name="run_event_streams")
    op.drop_table("run_event_streams")


def downgrade() -> None:
    op.create_table(
        "run_event_streams",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("ended_at", shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pruned_at", shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_run_event_streams_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_event_streams")),
    )
    op.create_index(
        "ix_run_event_streams_ended_at", "run_event_streams", ["ended_at"], unique=False
    )
    op.execute(
        "INSERT INTO run_event_streams (run_id, last_seq, ended_at, pruned_at) "
        "SELECT id, last_event_seq, CASE WHEN events_pruned_at IS NULL THEN finished_at END, "
        "events_pruned_at FROM runs WHERE last_event_seq > 0"
    )
    with op.batch_alter_table("tool_calls") as batch:
        batch.drop_constraint("tool_call_status", type_="check")
    op.drop_index("ix_runs_finished_at_unpruned", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("run_status", type_="check")
        batch.drop_column("events_pruned_at")
        batch.drop_column("last_event_seq")
