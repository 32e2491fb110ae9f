"""Logging set up once per process: text or JSON lines, tagged with the process and the ids of
what they concern (shared.logcontext); secrets kept out by construction (SecretStr)."""

from __future__ import annotations

import json
import logging
import os

from shared.logcontext import current

# Record attributes every LogRecord has; anything else came from `extra=` and is kept.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "context",  # the text format's suffix
}


class ContextFilter(logging.Filter):
    """Copies the current request/task/run/conversation ids onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = current()
        for name, value in ids.items():
            setattr(record, name, value)
        record.context = "".join(f" {k}={v}" for k, v in ids.items())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers (LOG_FORMAT=json)."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "process": self.process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            # The ids, and any plain `extra=` value; structured extras (Celery's `data`, a copy
            # of the task's arguments) stay out.
            if key not in _STANDARD and isinstance(value, str | int | float | bool):
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def log_format() -> str:
    """LOG_FORMAT, defaulting to json in production and text elsewhere."""
    default = "json" if os.environ.get("PARLEY_ENV") == "production" else "text"
    return os.environ.get("LOG_FORMAT", default).strip().lower() or default


def configure_logging(process: str, *, force: bool = False) -> None:
    """Log lines tagged with the process (`force` re-tags a process that knows its name later)."""
    root = logging.getLogger()
    if root.handlers and not force:
        return
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if log_format() == "json":
        handler.setFormatter(JsonFormatter(process))
    else:
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s %(levelname)s [{process}] %(name)s: %(message)s%(context)s"
            )
        )
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    # uvicorn's loggers bring their own text handlers: route them through this one instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
