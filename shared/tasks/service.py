"""Todo operations for one user, used by both the REST routes and the MCP tools.

Tasks are addressed by the user's own task number. A number comes from the user's counter row,
bumped with an upsert in the adding transaction (the pattern of the event log's ids): the row
lock orders concurrent adds of one user, and the counter never goes down, so a deleted task's
number is never given out again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import utcnow
from shared.errors import NotFound
from shared.tasks.models import Task, TaskCounter


async def list_tasks(session: AsyncSession, user_id: str, status: str = "all") -> Sequence[Task]:
    query = select(Task).where(Task.user_id == user_id).order_by(Task.number)
    if status == "pending":
        query = query.where(Task.completed.is_(False))
    elif status == "completed":
        query = query.where(Task.completed.is_(True))
    return (await session.execute(query)).scalars().all()


async def get(session: AsyncSession, user_id: str, number: int) -> Task:
    """The user's task with this number, or NotFound (also for another user's number)."""
    task = (
        await session.execute(select(Task).where(Task.user_id == user_id, Task.number == number))
    ).scalar_one_or_none()
    if task is None:
        raise NotFound(f"task {number} not found")
    return task


async def add(session: AsyncSession, user_id: str, title: str, description: str | None) -> Task:
    number = await _next_number(session, user_id)
    task = Task(user_id=user_id, number=number, title=title, description=description)
    session.add(task)
    await session.flush()
    return task


async def _next_number(session: AsyncSession, user_id: str) -> int:
    """Bump the user's counter (creating it at 1) and return the new number."""
    dialect = session.get_bind().dialect.name
    builder: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        builder(TaskCounter)
        .values(user_id=user_id, last_number=1)
        .on_conflict_do_update(
            index_elements=[TaskCounter.user_id],
            set_={"last_number": TaskCounter.last_number + 1},
        )
        .returning(TaskCounter.last_number)
    )
    return int((await session.execute(statement)).scalar_one())


async def update(
    session: AsyncSession,
    user_id: str,
    number: int,
    *,
    title: str | None = None,
    description: str | None = None,
    completed: bool | None = None,
) -> Task:
    task = await get(session, user_id, number)
    if title is not None:
        task.title = title
    if description is not None:
        task.description = description
    if completed is not None:
        task.completed = completed
    task.updated_at = utcnow()
    await session.flush()
    return task


async def remove(session: AsyncSession, user_id: str, number: int) -> Task:
    """Delete the user's task; its number stays spent (the counter is not touched)."""
    task = await get(session, user_id, number)
    await session.execute(delete(Task).where(Task.id == task.id))
    return task
