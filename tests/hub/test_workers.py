"""What worker processes of `careplan hub serve --workers N` share (hub.workers): the clock, the
payload keys and the database's write turn. Two instances stand for two processes (each maps or
opens the files itself, as a worker does)."""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import os
import sqlite3
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


async def test_concurrent_works_share_one_commit_and_fail_alone(tmp_path: Path) -> None:
    """Group commit (hub.db.Database.commit_together): works queued while a batch commits share the
    next transaction; one that raises undoes only its own writes; each caller gets its own answer
    after the COMMIT."""
    db = await Database.open(tmp_path / "hub.sqlite3")
    batches: list[int] = []
    db.on_commit_batch = batches.append
    try:
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")

        def insert(key: str):  # type: ignore[no-untyped-def]
            async def work(tx):  # type: ignore[no-untyped-def]
                await tx.execute("INSERT INTO t VALUES (?)", (key,))
                return key

            return work

        results = await asyncio.gather(
            *(db.commit_together(insert(k)) for k in ["a", "b", "a", "c", "d"]), return_exceptions=True
        )
        assert results[:2] == ["a", "b"] and results[3:] == ["c", "d"]
        assert isinstance(results[2], sqlite3.IntegrityError), "the duplicate fails alone"
        rows = await db.fetch_all("SELECT k FROM t ORDER BY k")
        assert [r[0] for r in rows] == ["a", "b", "c", "d"]
        assert sum(batches[1:]) == 5 and len(batches) < 6, "fewer commits than works"
    finally:
        await db.close()
