"""approvals: runs may wait for a person (requires_action) with the tool calls to decide on

Revision ID: 0010_approvals
Revises: 0009
Create Date: 2026-11-29 14:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shared.db

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0010_approvals"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("queued", "in_progress", "completed", "failed", "cancelled")
ENDING = "event_type <> 'run.requires_action'"
AFTER = ("queued", "in_progress", "requires_action", "completed", "failed", "cancelled")


def _in(values: Sequence[str]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("required_action", JSON, nullable=True))
        batch.add_column(
            sa.Column("resumed_at", shared.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.drop_constraint("run_status", type_="check")
        batch.create_check_constraint("run_status", _in(AFTER))
    with op.batch_alter_table("tool_calls") as batch:
        batch.add_column(sa.Column("approval", sa.String(length=16), nullable=True))
    # A run's webhooks: one ending, and one run.requires_action per pause before it.
    with op.batch_alter_table("webhook_messages") as batch:
        batch.drop_constraint("uq_webhook_messages_run_id", type_="unique")
    op.create_index(
        "uq_webhook_messages_run_id_ending",
        "webhook_messages",
        ["run_id"],
        unique=True,
        postgresql_where=sa.text(ENDING),
        sqlite_where=sa.text(ENDING),
    )


def downgrade() -> None:
    # A run still waiting for a person cannot be kept: it fails as expired.
    op.execute(
        "UPDATE runs SET status = 'failed', required_action = NULL, lease_until = NULL "
        "WHERE status = 'requires_action'"
    )
    op.execute("DELETE FROM webhook_messages WHERE event_type = 'run.requires_action'")
    op.drop_index("uq_webhook_messages_run_id_ending", table_name="webhook_messages")
    with op.batch_alter_table("webhook_messages") as batch:
        batch.create_unique_constraint("uq_webhook_messages_run_id", ["run_id"])
    with op.batch_alter_table("tool_calls") as batch:
        batch.drop_column("approval")
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("run_status", type_="check")
        batch.create_check_constraint("run_status", _in(BEFORE))
        batch.drop_column("resumed_at")
        batch.drop_column("required_action")
