"""Log lines as text or as JSON (``VITRINA_LOG_FORMAT``), each carrying the
id of the request it belongs to (``X-Request-Id``, web/observe.py).

JSON lines are one object each: ``time``, ``level``, ``logger``,
``message``, ``request_id`` when there is one, and the fields a line adds
(``extra=``): the access line of each request has ``store_id``, ``route``,
``method``, ``status``, ``duration_ms``, ``bytes`` and ``error_code``."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

request_id: ContextVar[str] = ContextVar("vitrina_request_id", default="")

# The fields a line may add with ``extra=``; nothing else of a record is written.
FIELDS = ("store_id", "route", "method", "status", "duration_ms", "bytes", "error_code", "job_id")


class WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", "")
        if rid:
            line["request_id"] = rid
        for name in FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextLines(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = getattr(record, "request_id", "")
        return f"{text} [request {rid}]" if rid else text


def configure(level: str, format: str) -> None:
    """One handler on the root logger, in the chosen format; every logger
    (uvicorn's too) writes through it."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if format == "json" else TextLines())
    handler.addFilter(WithRequestId())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
