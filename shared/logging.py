"""Logging set up once per process, with secrets kept out by construction (SecretStr)."""

from __future__ import annotations

import logging
import os


def configure_logging(process: str, *, force: bool = False) -> None:
    """Log lines tagged with the process (`force` re-tags a process that knows its name later)."""
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)s [{process}] %(name)s: %(message)s",
        force=force,
    )
