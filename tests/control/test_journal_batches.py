"""The journal's writer gathers the entries of requests finishing close together into one
transaction (hub.control.journal rule 4, LINGER), and `flush()` still returns only once every
entry recorded before it is in the database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hub.control import journal as journal_module
from hub.control.journal import Entry, Journal
from hub.control.store import ControlDatabase
from tests.conftest import SqliteTrips


def _entry(number: int) -> Entry:
    return Entry(at="2026-12-01T00:00:00+00:00", method="GET", route="/api/v1/inbox", path=f"/{number}", status=200,
                 duration_ms=1.0)  # fmt: skip


async def test_entries_recorded_while_a_batch_lingers_share_its_transaction(tmp_path: Path) -> None:
    db = await ControlDatabase.open_control(tmp_path / "control.sqlite3")
    journal = Journal(db)
    writes: list[int] = []
    write = journal._write

    async def counted(entries: list[Entry]) -> None:
        writes.append(len(entries))
        await write(entries)

    journal._write = counted  # type: ignore[method-assign]
    journal.start()
    try:
        journal.record(_entry(1))
        await asyncio.sleep(0)  # the writer has the first entry and lingers
        journal.record(_entry(2))
        await asyncio.sleep(0)
        journal.record(_entry(3))
        await journal.flush()
        assert writes == [3]
        assert [e["path"] for e in (await journal.page())["entries"]] == ["/1", "/2", "/3"]
        await journal.flush()  # nothing recorded: returns without a write
        assert writes == [3]
    finally:
        await journal.stop()
        await db.close()


async def test_a_batch_and_its_trim_are_one_trip_to_the_sqlite_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BEGIN, the rows, the trim and COMMIT in one hand-off to the connection's thread (hub.db):
    a transaction block took three or four, each a futex hand-off of the GIL."""
    db = await ControlDatabase.open_control(tmp_path / "control.sqlite3")
    monkeypatch.setattr(journal_module, "KEEP", 2)
    monkeypatch.setattr(journal_module, "TRIM_EVERY", 3)
    journal = Journal(db)
    try:
        with monkeypatch.context() as patch:
            trips = SqliteTrips(patch)
            await journal._write([_entry(1), _entry(2)])
            assert trips.count == 1
            await journal._write([_entry(3), _entry(4)])  # 4 written: past TRIM_EVERY, trimmed to KEEP
            assert trips.count == 2
        assert [e["path"] for e in (await journal.page())["entries"]] == ["/3", "/4"]
        await journal._write([_entry(5)])  # the count starts again after a trim: no trim yet
        assert [e["path"] for e in (await journal.page())["entries"]] == ["/3", "/4", "/5"]
    finally:
        await db.close()
