"""What worker processes of `careplan hub serve --workers N` share (hub.workers): the clock, the
payload keys and the database's write turn. Two instances stand for two processes (each maps or
opens the files itself, as a worker does)."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from pathlib import Path

import pytest

from hub.clock import SharedClock
from hub.db import Database
from hub.payloads import PayloadStore

APRIL = dt.datetime(2025, 4, 16, 0, 0, tzinfo=dt.UTC)


def test_a_clock_move_through_one_worker_is_read_by_the_other(tmp_path: Path) -> None:
    one = SharedClock.fresh(tmp_path / "clock")
    other = SharedClock(tmp_path / "clock")
    assert other.state()["mode"] == "real"
    one.set(APRIL, frozen=True)
    assert other.now() == APRIL
    other.advance(dt.timedelta(days=1))
    assert one.now() == APRIL + dt.timedelta(days=1)
    one.set(APRIL)  # running from there
    assert other.state()["mode"] == "offset"
    assert abs(other.now() - APRIL) < dt.timedelta(seconds=5)
    with pytest.raises(ValueError, match="outside"):
        other.set(dt.datetime(1990, 1, 1, tzinfo=dt.UTC))
    assert abs(one.now() - APRIL) < dt.timedelta(seconds=5), "a refused move changes nothing"
    one.reset()
    assert other.state()["mode"] == "real"


def test_a_starting_hub_runs_on_real_time(tmp_path: Path) -> None:
    SharedClock.fresh(tmp_path / "clock").set(APRIL, frozen=True)
    assert SharedClock.fresh(tmp_path / "clock").state()["mode"] == "real"


def test_a_key_rotation_through_one_worker_is_followed_by_the_other(tmp_path: Path) -> None:
    one = PayloadStore(tmp_path / "payloads", tmp_path / "keys" / "payload-keys.json")
    other = PayloadStore(tmp_path / "payloads", tmp_path / "keys" / "payload-keys.json")
    one.write("a", b"before")
    one.add_key()
    one.write("b", b"after")
    assert other.read("b") == b"after", "a blob sealed with a key made by another worker"
    one.retire_old_keys()
    other.write("c", b"later")
    assert one.read("c") == b"later"
    assert other.active_key_id == one.active_key_id, "the other worker writes with the new key"


async def test_writers_of_two_processes_take_turns(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "hub.sqlite3")
    lock = os.open(tmp_path / "hub.sqlite3.write-lock", os.O_RDWR)
    try:
        async with db.transaction():
            with pytest.raises(BlockingIOError):  # another process cannot write meanwhile
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again after the commit
        fcntl.flock(lock, fcntl.LOCK_UN)
    finally:
        os.close(lock)
        await db.close()
