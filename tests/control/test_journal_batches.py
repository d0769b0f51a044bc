"""The journal's writer gathers the entries of requests finishing close together into one
transaction (hub.control.journal rule 4, LINGER), and `flush()` still returns only once every
entry recorded before it is in the database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.control.journal import Entry, Journal
from hub.control.store import ControlDatabase


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
