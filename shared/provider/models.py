"""Shared limits toward the LLM provider, kept in SQL when there is no Redis (embedded mode)."""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base


class ProviderLimit(Base):
    """One clock of the shared limiter: `rate` (the next free request time), `blocked` (until
    when a 429 told everyone to wait) or `slot:<holder>` (a call in flight, until it expires).
    Times are Unix seconds, so every process reads them alike."""

    __tablename__ = "provider_limits"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[float] = mapped_column(Float, default=0.0)
