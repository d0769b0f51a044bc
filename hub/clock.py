"""The hub's clock: real by default, frozen, offset or advanced for simulations.

Every date rule of the hub asks this clock (certificate validity, sessions, licences, download
times); the pure rules in `careplan/` receive its readings as arguments. Tests and scenarios move
it instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable


def _real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Clock:
    """`now()` is the real time plus an offset, or a frozen instant."""

    def __init__(self, source: Callable[[], dt.datetime] = _real_now) -> None:
        self._source = source
        self._offset = dt.timedelta(0)
        self._frozen: dt.datetime | None = None

    def now(self) -> dt.datetime:
        if self._frozen is not None:
            return self._frozen
        return self._source() + self._offset

    def set(self, instant: dt.datetime, *, frozen: bool = False) -> None:
        """Jump to `instant`; keep running from there unless `frozen`."""
        if instant.tzinfo is None:
            raise ValueError("the clock needs an aware datetime (with a time zone)")
        if frozen:
            self._frozen = instant.astimezone(dt.UTC)
        else:
            self._frozen = None
            self._offset = instant - self._source()

    def advance(self, delta: dt.timedelta) -> None:
        if self._frozen is not None:
            self._frozen += delta
        else:
            self._offset += delta

    def reset(self) -> None:
        self._frozen = None
        self._offset = dt.timedelta(0)

    def state(self) -> dict[str, object]:
        return {
            "now": self.now().isoformat(),
            "mode": "frozen" if self._frozen is not None else ("offset" if self._offset else "real"),
            "offset_seconds": self._offset.total_seconds(),
        }
