"""Logs that a flood cannot grow: identical events are logged once per interval, then counted.

Rules this module keeps:
1. `Bursts` is the one counter behind every "once per interval" in the hub: the log filter here and
   the refusal audit (`HubService.record_refusal`). It keeps at most `max_keys` keys, so a flood of
   distinct keys cannot grow memory either.
2. Client errors are logged without a traceback; a traceback is for the hub's own faults.
3. The event loop's `accept()` errors at the file limit (EMFILE) — a traceback per attempt in
   asyncio's default handler — become one warning per interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(slots=True)
class _Window:
    started: float
    admitted: int
    suppressed: int


class Bursts:
    """Per key: the first `burst` events of each `interval` pass, the rest are counted.

    `admit(key)` answers (passes, suppressed) where `suppressed` is how many events of that key were
    held back in the window that has just closed (reported once, by the first event after it).
    """

    def __init__(
        self, *, interval: float, burst: int = 1, now: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        self.interval = interval
        self.burst = burst
        self._now = now
        self._max_keys = max_keys
        self._windows: OrderedDict[Hashable, _Window] = OrderedDict()

    def admit(self, key: Hashable) -> tuple[bool, int]:
        now = self._now()
        window = self._windows.get(key)
        if window is None or now - window.started >= self.interval:
            held_back = window.suppressed if window is not None else 0
            self._windows[key] = _Window(started=now, admitted=1, suppressed=0)
            self._windows.move_to_end(key)
            while len(self._windows) > self._max_keys:
                self._windows.popitem(last=False)
            return True, held_back
        if window.admitted < self.burst:
            window.admitted += 1
            return True, 0
        window.suppressed += 1
        return False, 0

    def drain(self) -> Iterator[tuple[Hashable, int]]:
        """Keys whose window has closed with events held back, and how many (then forgotten)."""
        now = self._now()
        for key, window in list(self._windows.items()):
            if now - window.started >= self.interval:
                del self._windows[key]
                if window.suppressed:
                    yield key, window.suppressed


class RepeatFilter(logging.Filter):
    """A logging filter: an identical record passes once per interval; the next one that passes says
    how many were held back. Identical: same logger, level, exception type and message — or, when
    the call gives `extra={"repeat_key": …}`, same message template and key (so refusals of one
    code from one peer count as one line whatever their details)."""

    def __init__(self, interval: float, now: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.bursts = Bursts(interval=interval, now=now)

    def filter(self, record: logging.LogRecord) -> bool:
        kind = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None
        repeat_key = getattr(record, "repeat_key", None)
        text = str(record.msg) if repeat_key is not None else record.getMessage()
        key = (record.name, record.levelno, text, kind, repeat_key)
        passes, held_back = self.bursts.admit(key)
        if passes and held_back:
            record.msg = f"{record.msg} [{held_back} like this in the previous {self.bursts.interval:g} s not logged]"
        return passes


# The loggers a misbehaving client can make speak: every hub module's, aiohttp's, asyncio's. (A
# logger's filters see only records made on that logger, not its children's: each is named.)
NOISY_PREFIXES = ("hub", "aiohttp", "asyncio")


def _noisy_loggers() -> list[logging.Logger]:
    names = {"hub.app", "hub.middleware", "hub.service", "hub.connections", "aiohttp.server", "aiohttp.web", "asyncio"}
    names |= {n for n in logging.root.manager.loggerDict if n.split(".")[0] in NOISY_PREFIXES}
    return [logging.getLogger(name) for name in sorted(names)]


@contextmanager
def repeat_filtered(interval: float) -> Iterator[RepeatFilter]:
    """Install one RepeatFilter on the noisy loggers for the life of a hub (removed afterwards, so
    hubs started one after another in one process do not pile filters up)."""
    repeat = RepeatFilter(interval)
    loggers = _noisy_loggers()
    for logger in loggers:
        logger.addFilter(repeat)
    try:
        yield repeat
    finally:
        for logger in loggers:
            logger.removeFilter(repeat)


_accept_log = logging.getLogger("hub.connections")


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Route the loop's accept() resource errors (EMFILE/ENFILE/ENOBUFS, logged by asyncio with a
    traceback per attempt) to one rate-limited warning; other loop errors keep the previous handler.
    Returns a function that restores the previous handler."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            _accept_log.warning(
                "accept() failed at the file limit (%s): new connections wait; lower max_connections or "
                "raise the limit (ulimit -n)",
                type(context.get("exception")).__name__,
            )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    return lambda: loop.set_exception_handler(previous)


LOGGED_PATH = 200  # characters of a request's path a log line shows


def logged_path(request: web.Request) -> str:
    """The request's path as a log line shows it: as sent, percent-encoded (a %0A stays three
    characters, never a line break that would forge a log line), and cut after LOGGED_PATH
    characters, how many more said (a refused path can be 8 KB)."""
    path = request.rel_url.raw_path
    return path if len(path) <= LOGGED_PATH else f"{path[:LOGGED_PATH]}…(+{len(path) - LOGGED_PATH})"
