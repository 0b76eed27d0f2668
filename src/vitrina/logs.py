"""Log lines as text or as JSON (``VITRINA_LOG_FORMAT``), each carrying the
id of the request it belongs to (``X-Request-Id``, web/observe.py).

JSON lines are one object each: ``time``, ``level``, ``logger``,
``message``, ``request_id`` when there is one, and the fields a line adds
(``extra=``). The access line of each request (``AccessLines``, logger
``vitrina.access``) has ``client``, ``method``, ``path``, ``query``,
``store_id``, ``route``, ``status``, ``duration_ms``, ``bytes`` and
``error_code``.

Every line, of every logger, passes ``redaction.text`` on its way out: no
token, Authorization value or URL credential is written, whoever logged it.
uvicorn's own access logger is switched off: its line carries the raw query
(``?token=…``); vitrina's access line carries the query redacted."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from vitrina.domain import redaction

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
        return redaction.text(json.dumps(line, ensure_ascii=False, default=str))


class TextLines(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = getattr(record, "request_id", "")
        return redaction.text(f"{text} [request {rid}]" if rid else text)


# What the observer knows of one request when its answer is sent:
# (epoch seconds, request id, client, method, path, raw query, status,
#  duration in ms, bytes sent, store id or None, route template, errorCode)
Access = tuple[float, str, str, str, str, bytes, int, float, int, int | None, str, str]

_handler: logging.StreamHandler[TextIO] | None = None


class AccessLines:
    """The access log: one line per request, in the log's format. A request
    only appends a tuple; one thread formats and writes them every
    ``interval`` seconds through the log's handler (a logging call per
    request cost 12 to 15 us of the server's CPU, this about 3)."""

    def __init__(self, format: str, interval: float = 0.2) -> None:
        self.json = format == "json"
        self.interval = interval
        # appended by the event loop, taken by the writer: deque's own
        # append and popleft are atomic; when the terminal is stuck, the
        # oldest lines go first instead of memory growing
        self._pending: deque[Access] = deque(maxlen=100_000)
        self._start = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._second, self._stamp = -1, ""

    def add(self, entry: Access) -> None:
        self._pending.append(entry)
        if self._thread is None:
            with self._start:
                if self._thread is None and not self._stopping.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name="vitrina-access-log", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        with self._start:  # one taker at a time (the writer, or close)
            pending = self._pending
            entries = [pending.popleft() for _ in range(len(pending))]
        if not entries:
            return
        handler = _handler
        if handler is None:  # logging was not set up here (an app in a test): plain records
            for entry in entries:
                logging.getLogger("vitrina.access").info("%s", self._line(entry))
            return
        text = "".join(self._line(entry) + "\n" for entry in entries)
        handler.acquire()
        try:
            handler.stream.write(text)
            handler.flush()
        except (OSError, ValueError):  # a closed terminal must not break the server
            pass
        finally:
            handler.release()

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def _time(self, at: float) -> str:
        """The line's time to the second, formatted once per second."""
        second = int(at)
        if second != self._second:
            if self.json:
                self._stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            else:
                self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        return self._stamp

    def _line(self, entry: Access) -> str:
        at, rid, client, method, path, query, status, ms, sent, store_id, route, code = entry
        shown_query = redaction.query(query.decode("latin-1")) if query else ""
        millis = int(at * 1000) % 1000
        if self.json:
            line = {
                "time": f"{self._time(at)}.{millis:03d}+00:00",
                "level": "info",
                "logger": "vitrina.access",
                "message": f"{method} {route} {status}",
                "request_id": rid,
                "client": client,
                "method": method,
                "path": path,
                "query": shown_query,
                "store_id": store_id,
                "route": route,
                "status": status,
                "duration_ms": round(ms, 2),
                "bytes": sent,
                "error_code": code or None,
            }
            return redaction.text(json.dumps(line, ensure_ascii=False))
        target = f"{path}?{shown_query}" if shown_query else path
        error = f" {code}" if code else ""
        return redaction.text(
            f"{self._time(at)},{millis:03d} INFO vitrina.access: {client} {method} "
            f"{target} {status}{error} {ms:.1f} ms [request {rid}]"
        )


def configure(level: str, format: str) -> None:
    """One handler on the root logger, in the chosen format; every logger
    (uvicorn's too) writes through it, but uvicorn's access logger, which
    vitrina's access line replaces."""
    global _handler
    handler: logging.StreamHandler[TextIO] = logging.StreamHandler()
    handler.setFormatter(JsonLines() if format == "json" else TextLines())
    handler.addFilter(WithRequestId())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False
    uvicorn_access.disabled = True
    _handler = handler
