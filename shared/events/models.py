"""Event rows: one numbered sequence per run, plus the counter that keeps it gap-free."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, JSONType, UTCDateTime, utcnow


class RunEvent(Base):
    """One event of a run; `seq` is the SSE id (1, 2, 3 … per run)."""

    __tablename__ = "run_events"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventStream(Base):
    """A run's event counter: every writer (API or worker) takes ids from this row, under its lock.

    `ended_at` is set with the terminal event; the prune task deletes a stream's events once it
    is older than EVENT_RETENTION_HOURS and sets `pruned_at`.
    """

    __tablename__ = "run_event_streams"
    __table_args__ = (Index("ix_run_event_streams_ended_at", "ended_at"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    pruned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
