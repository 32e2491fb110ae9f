"""runs: an index of each user's unfinished runs (per-user cap); provider_limits (LLM limits)

The claim counts the user's runs in progress in the same UPDATE (MAX_ACTIVE_RUNS_PER_USER), and
a turn's ending looks up the user's oldest waiting run; both read only unfinished runs, which
this partial index holds (a user's finished runs, however many, are never scanned).
`provider_limits` holds the clocks of the shared limits toward the LLM provider when there is no
Redis (embedded mode): the next free request time, a 429's block, and the calls in flight.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 10:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = "status IN ('queued', 'in_progress')"


def upgrade() -> None:
    op.create_index(
        "ix_runs_user_id_unfinished",
        "runs",
        ["user_id", "status", "id"],
        postgresql_where=sa.text(UNFINISHED),
        sqlite_where=sa.text(UNFINISHED),
    )
    limits = op.create_table(
        "provider_limits",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_provider_limits")),
    )
    op.bulk_insert(limits, [{"key": "rate", "until": 0.0}, {"key": "blocked", "until": 0.0}])


def downgrade() -> None:
    op.drop_table("provider_limits")
    op.drop_index("ix_runs_user_id_unfinished", table_name="runs")
