"""One row per live worker process, refreshed by its heartbeat."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, UTCDateTime, utcnow


class WorkerBeat(Base):
    """A worker process's last heartbeat; removed when the process stops cleanly."""

    __tablename__ = "workers"

    # Random per process life (shared.workers.service.new_id); it heads the process's lease tokens.
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    turns_in_flight: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
