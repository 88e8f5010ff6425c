"""The daemon's log: timestamped lines for people, or one JSON object per line for log collectors."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """time, level, message, and the fields a line was logged with (``extra=fields(...)``)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def use_log_format(name: str) -> None:
    """Format every line of the process's log handlers (set up by the CLI) as ``name``."""
    formatter = JsonFormatter() if name == "json" else logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)


def fields(**values: Any) -> dict[str, Any]:
    """Structured fields for one log line: ``log.info(msg, *args, extra=fields(file=...))``."""
    return {"fields": values}
