"""The hub's clock: real by default, frozen, offset or advanced for simulations.

Every date rule of the hub asks this clock (certificate validity, sessions, licences, download
times); the pure rules in `careplan/` receive its readings as arguments. Tests and scenarios move
it instead of sleeping.

The clock may be moved anywhere within EARLIEST..LATEST, backwards too (a long-running hub plays
scenarios dated in the past): the rules handle facts recorded "in the future" (a licence action
dated before the office's last recorded licence event is CLOCK_BEFORE_RECORDED, 409). Outside that
range date arithmetic (licence periods a year ahead, certificate validity) would overflow, so a
move there is refused with ValueError and the clock stays where it was.

Several worker processes (`careplan hub serve --workers N`, hub.workers) share one clock:
`SharedClock` keeps the offset and the frozen instant in a small memory-mapped file of the data
directory, so a move made through one worker is what every worker reads next, at the cost of one
read of shared memory per `now()`.

Nodes on several machines (`serve --database URL`) share no memory: a mapped file on a network
share is not coherent. There a plain Clock is kept in step with a row of the shared database by
hub.nodes: `moves` records every move for it to write, and `adopt` takes the state it read (newer
sequences only) at the start of each request.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import mmap
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from careplan import jst
from careplan.errors import CareplanError, Operation

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class MoveRefused(ValueError):
    """A move the clock cannot make, with what exactly is wrong in Japanese too (`ja`)."""

    def __init__(self, en: str, ja: str) -> None:
        super().__init__(en)
        self.ja = ja


def _within_range(instant: dt.datetime) -> dt.datetime:
    if not EARLIEST <= instant < LATEST:
        raise MoveRefused(
            f"{instant.isoformat()} is outside {EARLIEST.date()}..{LATEST.date()}",
            f"行き先 {jst.for_people(instant.isoformat())}（日本時間）が2000年～2099年の外です",
        )
    return instant


def by_seconds(count: float) -> dt.timedelta:
    """`count` seconds as a move of the clock (MoveRefused when no calendar holds it)."""
    try:
        return dt.timedelta(seconds=count)
    except OverflowError:
        raise MoveRefused(
            f"{count:g} seconds leave the calendar",
            f"{'戻す' if count < 0 else '進める'}量（{count:g}秒）が暦の範囲を超えます",
        ) from None


@contextlib.contextmanager
def refused_move() -> Iterator[None]:
    """A move the clock cannot make (a time without a zone, not a time or a number of seconds,
    outside EARLIEST..LATEST) raised as BAD_REQUEST, the clock where it was. The admin API's answer,
    and the in-process scenario driver's: a scenario's step reads the same either way."""
    try:
        yield
    except (TypeError, ValueError, OverflowError) as exc:
        said = (
            f"：{exc.ja}"
            if isinstance(exc, MoveRefused)  # what exactly; else the rules it may have broken
            else "（set はタイムゾーン付きの ISO 8601 の日時、advance_seconds は有限の秒数で、"
            "行き先は2000年～2099年です）"
        )
        raise CareplanError(
            "BAD_REQUEST",
            operation=Operation.ADMIN,
            detail=f"時計を変更できません{said}",
            fix="タイムゾーン付きのISO 8601の日時（2000年～2099年）か、有限の秒数を指定してください。",
            detail_en=f"bad clock change: {exc}",
            fix_en="Give an ISO 8601 time with a zone (years 2000-2099) or a finite number of seconds.",
        ) from None


@dataclass(frozen=True, slots=True)
class Move:
    """One move, as a shared store applies it: to `offset` and `frozen` (set, reset), or by `delta`
    (advance: applied to the stored state, so two advances made at once on two nodes both count)."""

    offset: dt.timedelta = dt.timedelta(0)
    frozen: dt.datetime | None = None
    delta: dt.timedelta | None = None


class Clock:
    """`now()` is the real time plus an offset, or a frozen instant."""

    def __init__(self, source: Callable[[], dt.datetime] = _real_now) -> None:
        self._source = source
        self._offset = dt.timedelta(0)
        self._frozen: dt.datetime | None = None
        self._sequence = -1  # of the shared state adopted last (hub.nodes)
        self.moves: list[Move] | None = None  # when a list (hub.nodes), every move is appended to it

    def _moved(self, move: Move) -> None:
        if self.moves is not None:
            self.moves.append(move)

    def adopt(self, sequence: int, offset: dt.timedelta, frozen: dt.datetime | None) -> None:
        """Take the shared state read as of `sequence`, unless a newer one was adopted already (two
        requests of this node may read it at once and finish in either order)."""
        if sequence > self._sequence:
            self._sequence, self._offset, self._frozen = sequence, offset, frozen

    def adopt_next(self) -> None:
        """A move made here was not shared after all (its write failed): adopt the next reading."""
        self._sequence = -1

    def now(self) -> dt.datetime:
        if self._frozen is not None:
            return self._frozen
        return self._source() + self._offset

    def set(self, instant: dt.datetime, *, frozen: bool = False) -> None:
        """Jump to `instant`; keep running from there unless `frozen`."""
        if instant.tzinfo is None:
            raise MoveRefused(
                "the clock needs an aware datetime (with a time zone)",
                f"{instant.isoformat()} にタイムゾーンがありません（例: {instant.isoformat()}+09:00）",
            )
        _within_range(instant)
        if frozen:
            self._frozen = instant.astimezone(dt.UTC)
        else:
            self._frozen = None
            self._offset = instant - self._source()
        self._moved(Move(offset=self._offset, frozen=self._frozen))

    def advance(self, delta: dt.timedelta) -> None:
        """Move by `delta` (negative moves back); ValueError if that leaves EARLIEST..LATEST."""
        try:
            _within_range(self.now() + delta)
        except OverflowError:
            raise MoveRefused(
                f"advancing by {delta} leaves the calendar",
                f"{'戻す' if delta < dt.timedelta(0) else '進める'}量（{jst.span(delta)[0]}）が暦の範囲を超えます",
            ) from None
        if self._frozen is not None:
            self._frozen += delta
        else:
            self._offset += delta
        self._moved(Move(delta=delta))

    def reset(self) -> None:
        self._frozen = None
        self._offset = dt.timedelta(0)
        self._moved(Move())

    def state(self) -> dict[str, object]:
        return {
            "now": self.now().isoformat(),
            "mode": "frozen" if self._frozen is not None else ("offset" if self._offset else "real"),
            "offset_seconds": self._offset.total_seconds(),
        }


# The shared state: a sequence number (odd while a move is being written: readers retry), the
# offset and the frozen instant in microseconds since the epoch (0 when running: a frozen instant
# is never 1970, EARLIEST is 2000). A new file (zeros) is a running clock without offset.
_LAYOUT = struct.Struct("<qqq")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def micros(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def mapped_file(path: Path, size: int) -> mmap.mmap:
    """The first `size` bytes of `path` (created 0600, zeros when new) mapped shared: what one
    process writes there, every process that maps it reads (also hub.sessions' generation)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)
        return mmap.mmap(fd, size)
    finally:
        os.close(fd)


class SharedClock(Clock):
    """A Clock whose state lives in `path`, shared by every process that opens it. Moves are
    serialized by an exclusive lock on the file; readers never lock (a sequence lock)."""

    def __init__(self, path: Path, source: Callable[[], dt.datetime] = _real_now) -> None:
        super().__init__(source)
        self._map = mapped_file(path, _LAYOUT.size)
        self._path = path
        # The last state read, raw and decoded: every request reads the clock several times and it
        # rarely moves, so the timedelta and datetime are built again only when the bytes changed.
        # One attribute (raw, decoded), replaced whole: a thread reading it never pairs one state's
        # bytes with another's values.
        self._last: tuple[tuple[int, int, int], tuple[dt.timedelta, dt.datetime | None]] = (
            (0, 0, 0),
            (dt.timedelta(0), None),
        )

    @classmethod
    def fresh(cls, path: Path) -> SharedClock:
        """The clock a starting hub begins with: real time, as the in-process clock does."""
        path.unlink(missing_ok=True)
        return cls(path)

    def _read(self) -> tuple[int, dt.timedelta, dt.datetime | None]:
        while True:
            raw = _LAYOUT.unpack_from(self._map)
            sequence, offset, frozen = raw
            if sequence % 2 == 0 and _LAYOUT.unpack_from(self._map)[0] == sequence:
                last = self._last
                if raw != last[0]:
                    thawed = None if frozen == 0 else EPOCH + dt.timedelta(microseconds=frozen)
                    last = self._last = (raw, (dt.timedelta(microseconds=offset), thawed))
                return sequence, *last[1]

    @contextlib.contextmanager
    def _moving(self) -> Iterator[None]:
        with open(self._path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # one move at a time across processes
            sequence, self._offset, self._frozen = self._read()
            yield  # the move (Clock's own code) changes _offset/_frozen; on ValueError nothing is written
            frozen = 0 if self._frozen is None else micros(self._frozen - EPOCH)
            _LAYOUT.pack_into(self._map, 0, sequence + 1, micros(self._offset), frozen)
            struct.pack_into("<q", self._map, 0, sequence + 2)

    def now(self) -> dt.datetime:
        _, offset, frozen = self._read()
        return frozen if frozen is not None else self._source() + offset

    def set(self, instant: dt.datetime, *, frozen: bool = False) -> None:
        with self._moving():
            super().set(instant, frozen=frozen)

    def advance(self, delta: dt.timedelta) -> None:
        with self._moving():
            super().advance(delta)

    def reset(self) -> None:
        with self._moving():
            super().reset()

    def state(self) -> dict[str, object]:
        _, self._offset, self._frozen = self._read()
        return super().state()
