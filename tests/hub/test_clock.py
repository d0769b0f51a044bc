"""The hub's clock (hub/clock.py): real, frozen, offset, advanced and reset."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.clock import Clock

T0 = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
JST = dt.timezone(dt.timedelta(hours=9))


class FakeSource:
    """A controllable 'real' time."""

    def __init__(self, now: dt.datetime) -> None:
        self.current = now

    def __call__(self) -> dt.datetime:
        return self.current

    def tick(self, **kwargs: float) -> None:
        self.current += dt.timedelta(**kwargs)


@pytest.fixture
def source() -> FakeSource:
    return FakeSource(T0)


def test_default_clock_is_real_and_aware() -> None:
    before = dt.datetime.now(dt.UTC)
    now = Clock().now()
    after = dt.datetime.now(dt.UTC)
    assert now.tzinfo is not None
    assert before <= now <= after
    assert Clock().state()["mode"] == "real"


def test_real_mode_follows_the_source(source: FakeSource) -> None:
    clock = Clock(source)
    assert clock.now() == T0
    source.tick(seconds=5)
    assert clock.now() == T0 + dt.timedelta(seconds=5)
    assert clock.state() == {"now": (T0 + dt.timedelta(seconds=5)).isoformat(), "mode": "real", "offset_seconds": 0.0}


def test_frozen_clock_stands_still(source: FakeSource) -> None:
    clock = Clock(source)
    target = dt.datetime(2027, 4, 1, 9, 0, tzinfo=JST)
    clock.set(target, frozen=True)
    source.tick(hours=1)
    assert clock.now() == target
    assert clock.now().utcoffset() == dt.timedelta(0)  # kept in UTC
    assert clock.state()["mode"] == "frozen"
    assert clock.state()["now"] == "2027-04-01T00:00:00+00:00"


def test_offset_clock_runs_on_from_the_instant(source: FakeSource) -> None:
    clock = Clock(source)
    target = T0 + dt.timedelta(days=400)
    clock.set(target)
    assert clock.now() == target
    source.tick(seconds=30)
    assert clock.now() == target + dt.timedelta(seconds=30)
    state = clock.state()
    assert state["mode"] == "offset"
    assert state["offset_seconds"] == dt.timedelta(days=400).total_seconds()


def test_set_into_the_past(source: FakeSource) -> None:
    clock = Clock(source)
    clock.set(T0 - dt.timedelta(days=1))
    assert clock.now() == T0 - dt.timedelta(days=1)
    assert clock.state()["offset_seconds"] == -86400.0


def test_advance_when_running_and_when_frozen(source: FakeSource) -> None:
    clock = Clock(source)
    clock.advance(dt.timedelta(hours=2))
    assert clock.now() == T0 + dt.timedelta(hours=2)
    clock.advance(dt.timedelta(hours=1))
    assert clock.now() == T0 + dt.timedelta(hours=3)
    clock.set(T0, frozen=True)
    clock.advance(dt.timedelta(minutes=10))
    source.tick(hours=5)
    assert clock.now() == T0 + dt.timedelta(minutes=10)
    clock.advance(-dt.timedelta(minutes=20))
    assert clock.now() == T0 - dt.timedelta(minutes=10)


def test_unfreezing_with_set_runs_again(source: FakeSource) -> None:
    clock = Clock(source)
    clock.set(T0 + dt.timedelta(days=1), frozen=True)
    clock.set(T0 + dt.timedelta(days=2))
    source.tick(seconds=1)
    assert clock.now() == T0 + dt.timedelta(days=2, seconds=1)
    assert clock.state()["mode"] == "offset"


def test_reset_returns_to_real_time(source: FakeSource) -> None:
    clock = Clock(source)
    clock.set(T0 + dt.timedelta(days=1))
    clock.reset()
    assert clock.now() == T0
    assert clock.state()["mode"] == "real"
    clock.set(T0 + dt.timedelta(days=1), frozen=True)
    clock.advance(dt.timedelta(days=1))
    clock.reset()
    source.tick(seconds=3)
    assert clock.now() == T0 + dt.timedelta(seconds=3)
    assert clock.state() == {"now": clock.now().isoformat(), "mode": "real", "offset_seconds": 0.0}


@pytest.mark.parametrize("frozen", [False, True])
def test_set_needs_an_aware_datetime(source: FakeSource, frozen: bool) -> None:
    clock = Clock(source)
    clock.set(T0 + dt.timedelta(hours=1))
    with pytest.raises(ValueError, match="aware datetime"):
        clock.set(dt.datetime(2027, 1, 1), frozen=frozen)
    assert clock.now() == T0 + dt.timedelta(hours=1)  # unchanged by the refused call


def test_each_clock_has_its_own_state(source: FakeSource) -> None:
    first, second = Clock(source), Clock(source)
    first.set(T0 + dt.timedelta(days=1), frozen=True)
    assert second.now() == T0
