"""task numbers: each user's tasks are numbered 1, 2, 3 … by a per-user counter, never reused

Existing tasks keep their old id as their number, so "task 7" in a conversation held before
this migration still names the same task. Every user already known (with tasks or
conversations) starts counting above the highest id ever handed out (PostgreSQL's sequence
remembers deleted ones; SQLite reused them and only the current maximum is known), so no
number someone was shown before can come back as a different task.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The highest task id ever given out. Plain SQL (no reads in Python) so `upgrade --sql` works.
HIGHEST_ID = {
    "postgresql": (
        "GREATEST((SELECT COALESCE(MAX(id), 0) FROM tasks),"
        " (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM tasks_id_seq))"
    ),
    "sqlite": "(SELECT COALESCE(MAX(id), 0) FROM tasks)",
}


def upgrade() -> None:
    op.create_table(
        "task_counters",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_task_counters")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
    op.execute("UPDATE tasks SET number = id")
    highest = HIGHEST_ID[op.get_context().dialect.name]
    op.execute(
        "INSERT INTO task_counters (user_id, last_number) "
        f"SELECT known.user_id, {highest} FROM "
        "(SELECT user_id FROM tasks UNION SELECT user_id FROM conversations) AS known"
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint("uq_tasks_user_id_number", ["user_id", "number"])
        # The unique (user_id, number) index serves a user's lookups and ordered lists now.
        batch_op.drop_index("ix_tasks_user_id_id")


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_user_id_id", ["user_id", "id"], unique=False)
        batch_op.drop_constraint("uq_tasks_user_id_number", type_="unique")
        batch_op.drop_column("number")
    op.drop_table("task_counters")
