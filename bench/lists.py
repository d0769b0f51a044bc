"""Page timings of the send list and the inbox at 10k and at 1M stored transmissions. Not a test.

    .venv/bin/python bench/lists.py [--sizes 10000,1000000] [--offices 2000] [--repeat 200]

For each size it builds a fresh hub database (the hub's own migrations, so migration 3's indexes)
and fills it directly with sqlite3 (one transaction, synchronous=OFF: the fill is not what is
measured) with rows shaped like real ones: a ~1.5 KB manifest and a ~3.5 KB signature inline, 3
files each. One sending office holds 1% of all rows and one receiving office is the recipient of
1% of them, all downloaded except its last 50 (a 50-item pending inbox over a growing history).
It then times the service's list queries (`hub.listing.Listings`, no HTTP): the first page of the
pending inbox, the first page of the send list and the 50 rows after its first 40 (by
cursor), each the median of `--repeat` runs on a warm cache, and prints the 1M/10k ratios (goal:
within 1.5x).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from careplan.office import with_check_digit
from hub.db import Database
from hub.listing import Listings

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MANIFEST = b"m" * 1500
SIGNATURE = b"s" * 3500
DEEP = 40  # rows before the deep send-list page: the sender holds 1% of the rows, 100 at 10k


@dataclass(frozen=True, slots=True)
class Session:
    office_number: str


class Lists(Listings):
    """The hub's list queries over a bare database (the licence check of HubService left out)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _check_data_load(self, session: Any, operation: Any) -> None:
        return None


def office(n: int) -> str:
    return with_check_digit(f"13{n:07d}")


def rows(size: int, offices: int, sender: str, recipient: str) -> Iterator[tuple[str, str, str, str, bool]]:
    """(id, sender, recipient, submitted_at, pending): 1% of the rows from `sender`, 1% to
    `recipient` (the last 50 of those pending), the others between random offices, 1% pending."""
    rng = random.Random(size)
    mine = [i for i in range(1, size, 100)][-50:]
    for i in range(size):
        tid = hashlib.sha256(f"{size}:{i}".encode()).hexdigest()[:32]
        frm = sender if i % 100 == 0 else office(rng.randrange(1, offices))
        to = recipient if i % 100 == 1 else office(rng.randrange(1, offices))
        pending = i >= mine[0] and i % 100 == 1 if to == recipient else rng.random() < 0.01
        yield tid, frm, to, (START + dt.timedelta(seconds=i)).isoformat(), pending


def fill(path: Path, size: int, offices: int) -> tuple[str, str, float]:
    sender, recipient = office(offices + 1), office(offices + 2)
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")  # no WAL copy of gigabytes; the hub turns WAL back on
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO offices (office_number, name, service_kind, office_user_id, created_at) VALUES (?, ?, ?, ?, ?)",
        [(office(n), f"事業所{n}", "43", f"KJ{office(n)}", START.isoformat()) for n in range(1, offices + 3)],
    )
    batch: list[tuple[Any, ...]] = []
    files: list[tuple[Any, ...]] = []
    for tid, frm, to, at, pending in rows(size, offices, sender, recipient):
        downloaded = None if pending else at
        batch.append((tid, frm, to, "KJ", MANIFEST, tid + "m", SIGNATURE, "fp", at, at, 3, 30000, downloaded))
        files += [(tid, p, f"UPPLAN_{p}.CSV", 10000, "0" * 64, None) for p in range(3)]
        if len(batch) >= 20000:
            _flush(conn, batch, files)
    _flush(conn, batch, files)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return sender, recipient, time.perf_counter() - started


def _flush(conn: sqlite3.Connection, batch: list[tuple[Any, ...]], files: list[tuple[Any, ...]]) -> None:
    conn.executemany(
        "INSERT INTO transmissions (id, sender, recipient, sender_user, manifest, manifest_sha256, signature, "
        "signer_fingerprint, signed_at, submitted_at, file_count, total_size, downloaded_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        batch,
    )
    conn.executemany("INSERT INTO transmission_files VALUES (?, ?, ?, ?, ?, ?)", files)
    batch.clear()
    files.clear()


async def timings(path: Path, size: int, sender: str, recipient: str, repeat: int) -> dict[str, float]:
    db = await Database.open(path)
    lists = Lists(db)
    try:
        inbox = await lists.inbox(Session(recipient))
        assert len(inbox["transmissions"]) == min(50, size // 100)  # type: ignore[arg-type]
        cursor, skipped = None, 0
        while skipped < DEEP:  # the cursor of a page deep in the send list
            page = await lists.sent(Session(sender), limit=min(500, DEEP - skipped), cursor=cursor)
            cursor, skipped = page["next_cursor"], skipped + len(page["transmissions"])  # type: ignore[arg-type]
        probes = {
            "inbox, pending, first page": lambda: lists.inbox(Session(recipient)),
            "send list, first page (100 rows)": lambda: lists.sent(Session(sender)),
            f"send list, 50 rows after {DEEP}": lambda: lists.sent(Session(sender), limit=50, cursor=str(cursor)),
        }
        result = {}
        for name, probe in probes.items():
            times = []
            for _ in range(repeat):
                began = time.perf_counter()
                await probe()
                times.append(time.perf_counter() - began)
            result[name] = statistics.median(times) * 1000
        return result
    finally:
        await db.close()


async def measure(size: int, offices: int, repeat: int, workdir: Path) -> tuple[dict[str, float], float, int]:
    path = workdir / f"hub-{size}.sqlite3"
    await (await Database.open(path)).close()  # the hub's schema, migrations included
    sender, recipient, seconds = await asyncio.to_thread(fill, path, size, offices)
    result = await timings(path, size, sender, recipient, repeat)
    megabytes = path.stat().st_size // (1024 * 1024)
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        await asyncio.to_thread(leftover.unlink, missing_ok=True)
    return result, seconds, megabytes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Page timings at 10k and 1M stored transmissions.")
    parser.add_argument("--sizes", default="10000,1000000", help="comma-separated row counts (smallest first)")
    parser.add_argument("--offices", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=None, help="where to build the databases (default: a temp dir)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="careplan-lists-", dir=args.dir) as tmp:
        for size in sizes:
            result, seconds, megabytes = asyncio.run(measure(size, args.offices, args.repeat, Path(tmp)))
            results[size] = result
            print(f"{size:>9,} rows: filled in {seconds:.0f} s, database {megabytes:,} MB", flush=True)
            for name, ms in result.items():
                print(f"    {name:<40} {ms:8.2f} ms (median of {args.repeat})")
    small, large = sizes[0], sizes[-1]
    print(f"\nratio {large:,} / {small:,} rows (goal <= 1.5):")
    for name in results[small]:
        print(f"    {name:<40} {results[large][name] / results[small][name]:6.2f}x")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
