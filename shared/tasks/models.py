"""Task rows of the todo domain, numbered per user."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, UTCDateTime, utcnow


class Task(Base):
    """A user's todo item.

    `number` is what people and models call "task 3": the user's own sequence, never reused.
    `id` is internal and never shown (global ids would leak how many tasks everyone has).
    """

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("user_id", "number", name="uq_tasks_user_id_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(255))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaskCounter(Base):
    """The last task number given to a user; only ever grows, so deleting frees no number."""

    __tablename__ = "task_counters"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)
