"""The hub's clock: real by default, frozen, offset or advanced for simulations.

Every date rule of the hub asks this clock (certificate validity, sessions, licences, download
times); the pure rules in `careplan/` receive its readings as arguments. Tests and scenarios move
it instead of sleeping.

The clock may be moved anywhere within EARLIEST..LATEST, backwards too (a long-running hub plays
scenarios dated in the past): the rules handle facts recorded "in the future" (a licence action
dated before the office's last recorded licence event is CLOCK_BEFORE_RECORDED, 409). Outside that
range date arithmetic (licence periods a year ahead, certificate validity) would overflow, so a
move there is refused with ValueError and the clock stays where it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _within_range(instant: dt.datetime) -> dt.datetime:
    if not EARLIEST <= instant < LATEST:
        raise ValueError(f"{instant.isoformat()} is outside {EARLIEST.date()}..{LATEST.date()}")
    return instant


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
        _within_range(instant)
        if frozen:
            self._frozen = instant.astimezone(dt.UTC)
        else:
            self._frozen = None
            self._offset = instant - self._source()

    def advance(self, delta: dt.timedelta) -> None:
        """Move by `delta` (negative moves back); ValueError if that leaves EARLIEST..LATEST."""
        try:
            _within_range(self.now() + delta)
        except OverflowError:
            raise ValueError(f"advancing by {delta} leaves the calendar") from None
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
