"""How the hub's log lines look: text for people (the default), or one JSON object per line for a log
pipeline (`--log-format json` on `careplan hub serve` and `careplan up`).

A JSON line holds exactly: time (UTC, ISO 8601), level, logger, message, request_id (of the request
being handled, hub.requestid; null outside one), node (hostname:port/pid, once the hub listens) and,
for the hub's own faults, exception (the traceback). Nothing else of a record is written — not the
`extra` attributes a call may carry — so a line holds what the message says and no more: the hub's
messages name codes, ids and sizes, never values from files.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import socket

FORMATS = ("text", "json")
# The id of the request being handled (set by hub.requestid's middleware), here rather than there so
# that a process which serves no request (the supervisor, hub.supervisor) logs without aiohttp.
REQUEST_ID_VAR: contextvars.ContextVar[str | None] = contextvars.ContextVar("careplan_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled in this context, if any (for log records)."""
    return REQUEST_ID_VAR.get()


def node_name(port: int | str) -> str:
    """This process as one node of the hub: hostname:port/pid (several workers may share a port)."""
    return f"{socket.gethostname()}:{port}/{os.getpid()}"


class JsonFormatter(logging.Formatter):
    def __init__(self, node: str = "") -> None:
        super().__init__()
        self.node = node  # set once the hub listens (its port may be picked by the system)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": current_request_id(),
            "node": self.node or None,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    log_format: str, *, text: str, datefmt: str | None = None, force: bool = False
) -> JsonFormatter | None:
    """INFO and above to stderr in `log_format`; `text` is the text format's pattern; `force`: in
    place of handlers already there (a forked worker's, from its supervisor). Returns the JSON
    formatter (to be told the node once the hub listens), or None for text."""
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(FORMATS)}")
    if log_format == "text":
        logging.basicConfig(level=logging.INFO, format=text, datefmt=datefmt, force=force)
        return None
    formatter = JsonFormatter()
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=force)
    return formatter
