"""The hub's database (hub.storage: SQLite in hub/db.py, PostgreSQL in hub/db_postgres.py) and its
service layer without HTTP (hub/service.py), on both backends."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ca.authority import CertificateAuthority
from careplan.certificates import CertificateKind, OfficeIdentity
from careplan.errors import CareplanError, Operation
from careplan.office import with_check_digit
from hub.clock import Clock
from hub.config import HubConfig
from hub.db import MIGRATIONS, Database, Transaction
from hub.db_postgres import PostgresDatabase, PostgresTransaction, numbered, rowcount
from hub.payloads import PayloadStore
from hub.service import HubService
from hub.storage import (
    STAMP,
    CommitOutcomeUnknown,
    IntegrityError,
    RowsNotAsExpected,
    Statements,
    Storage,
    StorageTransaction,
    statement,
    statement_fetch,
    statement_many,
)
from hub.trust import TrustStore
from tests.conftest import SqliteTrips

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
OFFICE = with_check_digit("137010001")
OTHER = with_check_digit("137010002")


INSERT_OFFICE = (
    "INSERT INTO offices (office_number, name, service_kind, office_user_id, created_at) VALUES (?, ?, ?, ?, ?)"
)


def office_row(number: str = OFFICE, user: str | None = None) -> tuple[object, ...]:
    return (number, "テスト事業所", "43", user or f"KJ{number}", NOW.isoformat())


async def count(db: Storage, table: str) -> int:
    row = await db.fetch_one(f"SELECT count(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def version(db: Storage) -> int:
    sql = "PRAGMA user_version" if db.dialect == "sqlite" else "SELECT version FROM schema_version"
    row = await db.fetch_one(sql)
    assert row is not None
    return int(row[0])


Opener = Callable[[], Awaitable[Storage]]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_db(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the same database again on each call: SQLite in tmp_path, or a fresh PostgreSQL
    database of the session's cluster (tests/conftest.py pg_cluster)."""
    if request.param == "sqlite":
        path = tmp_path / "data" / "hub.sqlite3"
        return lambda: Database.open(path)
    url = request.getfixturevalue("pg_cluster").new_database()
    return lambda: PostgresDatabase.open(url)


@pytest.fixture
async def db(open_db: Opener) -> AsyncIterator[Storage]:
    database = await open_db()
    yield database
    await database.close()


# --- the database, on both backends -------------------------------------------------------------
async def test_schema_version_and_tables(db: Storage) -> None:
    assert await version(db) == len(MIGRATIONS)
    tables = await db.table_names()
    assert {"offices", "users", "sessions", "transmissions", "transmission_files", "audit", "hub_secrets"} <= tables
    secret = await db.fetch_one("SELECT value FROM hub_secrets WHERE name = 'csrf'")
    assert secret is not None and isinstance(secret[0], bytes) and len(secret[0]) == 32


async def test_committed_transaction_persists(db: Storage) -> None:
    async with db.transaction() as tx:
        assert await tx.execute(INSERT_OFFICE, office_row()) == 1
    row = await db.fetch_one("SELECT name FROM offices WHERE office_number = ?", (OFFICE,))
    assert row is not None and row["name"] == "テスト事業所"
    assert dict(row) == {"name": "テスト事業所"} and tuple(row) == ("テスト事業所",)


async def test_rowcount_of_updates_and_deletes(db: Storage) -> None:
    async with db.transaction() as tx:
        await tx.execute_many(INSERT_OFFICE, [office_row(), office_row(OTHER)])
        assert await tx.execute("UPDATE offices SET name = ? WHERE name = ?", ("x", "テスト事業所")) == 2
        assert await tx.execute("DELETE FROM offices WHERE office_number = ?", ("nobody",)) == 0
        assert await tx.execute("DELETE FROM offices WHERE name = 'x' AND office_number = ?", (OFFICE,)) == 1


async def test_question_marks_in_literals_are_not_placeholders(db: Storage) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO offices (office_number, name, service_kind, office_user_id, created_at) "
            "VALUES (?, 'それは？ ? ''?''', ?, ?, ?)",
            (OFFICE, "43", "KJ1", NOW.isoformat()),
        )
    row = await db.fetch_one("SELECT name FROM offices WHERE name LIKE '%?%' AND office_number = ?", (OFFICE,))
    assert row is not None and row[0] == "それは？ ? '?'"


async def test_transaction_that_raises_rolls_back(db: Storage) -> None:
    async def insert_then_fail() -> None:
        async with db.transaction() as tx:
            await tx.execute(INSERT_OFFICE, office_row())
            assert tuple(await tx.fetch_one("SELECT count(*) FROM offices")) == (1,)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await insert_then_fail()
    assert await count(db, "offices") == 0
    # The connection is usable again: the lock was released and no transaction is left open.
    async with db.transaction() as tx:
        await tx.execute(INSERT_OFFICE, office_row())
    assert await count(db, "offices") == 1


async def test_constraint_failure_rolls_back_the_earlier_statements(db: Storage) -> None:
    async def insert_office_then_orphan_user() -> None:
        async with db.transaction() as tx:
            await tx.execute(INSERT_OFFICE, office_row())
            # Foreign keys are enforced: this user's office does not exist.
            await tx.execute(
                "INSERT INTO users (user_id, office_number, password_hash, password_state, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                ("KJX", "9999999999", "hash", "ok", NOW.isoformat()),
            )

    with pytest.raises(IntegrityError, match=r"(?i)FOREIGN KEY"):
        await insert_office_then_orphan_user()
    assert await count(db, "offices") == 0
    assert await count(db, "users") == 0


@pytest.mark.parametrize("way", ["execute_many", "executescript_in_tx", "fetch_one", "fetch_all"])
async def test_a_constraint_refuses_a_write_by_any_call_as_integrity_error(db: Storage, way: str) -> None:
    """Storage rule 7 on every call of a transaction that can write (INSERT … RETURNING through
    the fetches): PostgreSQL's refusal is ConstraintViolation, SQLite's sqlite3.IntegrityError,
    both an IntegrityError; the transaction is rolled back and the next one runs."""
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
        await tx.execute("INSERT INTO t VALUES ('a')")
    with pytest.raises(IntegrityError):  # noqa: PT012 - the whole transaction is the statement
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES ('b')")
            if way == "execute_many":
                await tx.execute_many("INSERT INTO t VALUES (?)", [("c",), ("a",)])
            elif way == "executescript_in_tx":
                await tx.executescript_in_tx("INSERT INTO t VALUES ('c'); INSERT INTO t VALUES ('a')")
            else:
                await getattr(tx, way)("INSERT INTO t VALUES (?) RETURNING k", ("a",))
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO t VALUES ('d')")
    assert [r[0] for r in await db.fetch_all("SELECT k FROM t ORDER BY k")] == ["a", "d"]


async def test_a_constraint_checked_at_commit_refuses_it_as_integrity_error(open_db: Opener) -> None:
    """A DEFERRABLE constraint is checked by PostgreSQL's COMMIT: that refusal is an IntegrityError
    too (not CommitOutcomeUnknown: nothing was stored), and the connection serves the next one."""
    db = await open_db()
    try:
        if db.dialect != "postgresql":
            pytest.skip("SQLite defers only foreign keys, and the hub declares none deferred")
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE t (k TEXT, CONSTRAINT one_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)")
        with pytest.raises(IntegrityError):
            async with db.transaction() as tx:
                await tx.execute_many("INSERT INTO t VALUES (?)", [("a",), ("a",)])
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES ('b')")
        assert [r[0] for r in await db.fetch_all("SELECT k FROM t")] == ["b"]
    finally:
        await db.close()


async def test_cancelled_transaction_rolls_back(db: Storage) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with db.transaction() as tx:
            await tx.execute(INSERT_OFFICE, office_row())
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await count(db, "offices") == 0
    async with db.transaction() as tx:  # and the writer is free again
        await tx.execute(INSERT_OFFICE, office_row())


async def test_check_constraints_hold(db: Storage) -> None:
    with pytest.raises(IntegrityError):  # noqa: PT012 - the whole transaction is the statement
        async with db.transaction() as tx:
            await tx.execute(INSERT_OFFICE, office_row())
            await tx.execute(
                "INSERT INTO users (user_id, office_number, password_hash, password_state, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (f"KJ{OFFICE}", OFFICE, "hash", "free", NOW.isoformat()),
            )
    assert await count(db, "offices") == 0


async def _increments(databases: list[Storage], each: int) -> None:
    """Read-then-write increments from every database at once: none may be lost."""
    async with databases[0].transaction() as tx:
        await tx.execute("INSERT INTO audit (at, operation, code, detail) VALUES ('t', 'o', 'c', '0')")

    async def increment(db: Storage) -> None:
        async with db.transaction() as tx:
            row = await tx.fetch_one("SELECT detail FROM audit WHERE operation = 'o'")
            assert row is not None
            await asyncio.sleep(0.01)  # another writer would read the same value here
            await tx.execute("UPDATE audit SET detail = ? WHERE operation = 'o'", (str(int(row[0]) + 1),))

    await asyncio.gather(*(increment(db) for db in databases for _ in range(each)))
    row = await databases[-1].fetch_one("SELECT detail FROM audit WHERE operation = 'o'")
    assert row is not None and row[0] == str(len(databases) * each)


async def test_write_transactions_do_not_interleave(db: Storage) -> None:
    await _increments([db], 5)


async def test_writers_of_two_nodes_take_turns(open_db: Opener) -> None:
    """Two opens of one database stand for two nodes (or worker processes): the advisory lock
    (PostgreSQL) or the file lock (SQLite) makes their writers take turns."""
    first, second = await open_db(), await open_db()
    try:
        await _increments([first, second], 4)
    finally:
        await first.close()
        await second.close()


async def test_after_commit_runs_only_after_a_commit(db: Storage) -> None:
    called: list[str] = []
    async with db.transaction() as tx:
        tx.after_commit(lambda: called.append("committed"))
        assert called == []
    with pytest.raises(RuntimeError):  # noqa: PT012 - the whole transaction is the statement
        async with db.transaction() as tx:
            tx.after_commit(lambda: called.append("rolled back"))
            raise RuntimeError
    assert called == ["committed"]


async def test_concurrent_works_share_one_commit_and_fail_alone(db: Storage) -> None:
    """Group commit (hub.storage.GroupCommit): works queued while a batch commits share the next
    transaction; one that raises undoes only its own writes; each caller gets its own answer after
    the COMMIT."""
    batches: list[int] = []
    db.on_commit_batch = batches.append
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")

    def insert(key: str) -> Callable[[Any], Awaitable[str]]:
        async def work(tx: Any) -> str:
            await tx.execute("INSERT INTO t VALUES (?)", (key,))
            return key

        return work

    results = await asyncio.gather(
        *(db.commit_together(insert(k)) for k in ["a", "b", "a", "c", "d"]), return_exceptions=True
    )
    assert results[:2] == ["a", "b"] and results[3:] == ["c", "d"]
    assert isinstance(results[2], IntegrityError), "the duplicate fails alone"
    rows = await db.fetch_all("SELECT k FROM t ORDER BY k")
    assert [r[0] for r in rows] == ["a", "b", "c", "d"]
    assert sum(batches[1:]) == 5 and len(batches) < 6, "fewer commits than works"


@pytest.mark.parametrize("alone", [False, True])
async def test_statements_are_works_with_stamps_taken_in_commit_order(db: Storage, alone: bool) -> None:
    """A work written as `Statements` commits like any work (same outcomes, a failing one undone
    alone, results after the COMMIT), and its stamp is taken at its turn: in commit order, as the
    submit's submitted_at is. SQLite runs such a batch in one trip to its connection's thread."""
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY, at INTEGER NOT NULL)")
        await tx.execute("CREATE TABLE f (k TEXT NOT NULL, n INTEGER NOT NULL)")
    ticks = iter(range(100))

    def insert(key: str) -> Statements:
        return Statements(
            (
                statement("INSERT INTO t VALUES (?, ?)", (key, STAMP)),
                statement_many("INSERT INTO f VALUES (?, ?)", [(key, 1), (key, STAMP)]),
            ),
            stamp=lambda: next(ticks),
        )

    keys = ["a"] if alone else ["a", "b", "a", "c"]
    results = await asyncio.gather(*(db.commit_together(insert(k)) for k in keys), return_exceptions=True)
    if alone:
        assert results == [0]
    else:
        assert results[0] == 0 and isinstance(results[2], IntegrityError), "the duplicate fails alone"
        assert results[1] < results[3]
    rows = await db.fetch_all("SELECT k, at FROM t ORDER BY at")
    assert [(r[0], r[1]) for r in rows] == [(k, r) for k, r in zip(keys, results, strict=True) if isinstance(r, int)]
    files = await db.fetch_all("SELECT k, n FROM f ORDER BY k, n")
    assert [(r[0], r[1]) for r in files] == sorted(
        (k, n) for k, r in zip(keys, results, strict=True) if isinstance(r, int) for n in (1, r)
    ), "the failed work's second statement was undone with its first"
    with pytest.raises(IntegrityError):  # alone, its exception reaches its caller and commits nothing
        await db.commit_together(insert("a"))
    assert await count(db, "t") == len([r for r in results if isinstance(r, int)])


async def test_a_cancelled_committer_answers_every_caller(db: Storage) -> None:
    """At the end asyncio.run cancels every task at once: the committer with its callers, who wait
    for their outcome even when cancelled. Each must still hear one, or shutting down waits for
    ever: the batch being committed as CommitOutcomeUnknown (its COMMIT may have reached the
    database: its caller keeps what the rows may name), the works queued behind it as cancelled.
    The next work commits as ever."""
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    begun, never = asyncio.Event(), asyncio.Event()

    async def stuck(tx: Any) -> str:
        await tx.execute("INSERT INTO t VALUES ('a')")
        begun.set()
        await never.wait()  # what shutting down interrupts
        return "a"

    def insert(key: str) -> Callable[[Any], Awaitable[str]]:
        async def work(tx: Any) -> str:
            await tx.execute("INSERT INTO t VALUES (?)", (key,))
            return key

        return work

    first = asyncio.create_task(db.commit_together(stuck))
    await begun.wait()
    queued = asyncio.create_task(db.commit_together(insert("b")))
    await asyncio.sleep(0)  # queued behind the batch that commits
    committer = db._committer  # type: ignore[attr-defined]
    assert committer is not None and not committer.done()
    for task in (first, queued, committer):
        task.cancel()
    outcomes = await asyncio.wait_for(asyncio.gather(first, queued, return_exceptions=True), timeout=10)
    assert isinstance(outcomes[0], CommitOutcomeUnknown) and outcomes[0].code == "DATABASE_UNAVAILABLE"
    assert isinstance(outcomes[1], asyncio.CancelledError)
    assert committer.cancelled()
    assert await db.commit_together(insert("c")) == "c"
    assert [r[0] for r in await db.fetch_all("SELECT k FROM t ORDER BY k")] == ["c"], "the stuck batch rolled back"


async def test_statements_fetch_and_expect_row_counts(db: Storage) -> None:
    """A "fetch" step's rows (read after the steps before it) are the work's result; a step that
    changes another number of rows than it expects fails its work alone, undoing its writes."""
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY, done TEXT)")
        await tx.execute("INSERT INTO t VALUES ('a', NULL), ('b', NULL)")

    def mark(key: str) -> Statements:
        return Statements(
            (
                statement("UPDATE t SET done = ? WHERE k = ? AND done IS NULL", (STAMP, key), expect=1),
                statement_fetch("SELECT k, done FROM t WHERE k = ?", (key,)),
                statement("INSERT INTO t VALUES (?, 'log')", (key + "-log",)),
            ),
            stamp=lambda: "yes",
        )

    results = await asyncio.gather(*(db.commit_together(mark(k)) for k in ["a", "a", "b", "z"]), return_exceptions=True)
    assert [(r["k"], r["done"]) for r in results[0]] == [("a", "yes")]
    assert isinstance(results[1], RowsNotAsExpected) and results[1].changed == 0
    assert [(r["k"], r["done"]) for r in results[2]] == [("b", "yes")]
    assert isinstance(results[3], RowsNotAsExpected)
    rows = await db.fetch_all("SELECT k FROM t ORDER BY k")
    assert [r[0] for r in rows] == ["a", "a-log", "b", "b-log"], "the failed works' later writes never happened"


async def test_a_batch_of_statements_is_one_trip_to_the_sqlite_thread(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with sqlite_db.transaction() as tx:
        await tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    trips = SqliteTrips(monkeypatch)
    works = [Statements((statement("INSERT INTO t VALUES (?)", (k,)),)) for k in "abcd"]
    await asyncio.gather(*(sqlite_db.commit_together(work) for work in works))
    assert trips.count <= 2, "one trip per batch (the first work may commit alone before the others queue)"
    assert await count(sqlite_db, "t") == 4


async def test_lookup_sees_committed_rows_only_and_never_waits_for_the_writer(db: Storage) -> None:
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
        await tx.execute("INSERT INTO t VALUES ('a', 1)")
    async with db.transaction() as tx:
        await tx.execute("UPDATE t SET v = 2 WHERE k = 'a'")
        await tx.execute("INSERT INTO t VALUES ('b', 1)")
        rows = await asyncio.wait_for(db.lookup("SELECT k, v FROM t ORDER BY k"), 5)
        assert [(r["k"], r["v"]) for r in rows] == [("a", 1)], "the open transaction is not seen"
    rows = await db.lookup("SELECT k, v FROM t WHERE k IN (?, ?) ORDER BY k", ("a", "b"))
    assert [(r["k"], r["v"]) for r in rows] == [("a", 2), ("b", 1)]
    assert dict(rows[0]) == {"k": "a", "v": 2}


async def test_a_busy_lookup_goes_to_the_connection_thread(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with sqlite_db.transaction() as tx:
        await tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
        await tx.execute("INSERT INTO t VALUES ('a')")

    class Busy:
        def execute(self, *_: Any) -> Any:
            raise sqlite3.OperationalError("database is locked")

        def close(self) -> None:
            pass

    monkeypatch.setattr(sqlite_db, "_reader", Busy())
    assert [r[0] for r in await sqlite_db.lookup("SELECT k FROM t")] == ["a"]


async def test_reopening_keeps_data_and_does_not_migrate_again(open_db: Opener) -> None:
    first = await open_db()
    async with first.transaction() as tx:
        await tx.execute(INSERT_OFFICE, office_row())
    await first.close()
    again = await open_db()
    try:
        assert await version(again) == len(MIGRATIONS)
        assert await count(again, "offices") == 1
    finally:
        await again.close()


async def test_nodes_starting_at_once_migrate_once(open_db: Opener, request: pytest.FixtureRequest) -> None:
    if "sqlite" in request.node.name:  # three opens of one file in one process can meet SQLite's WAL switch
        pytest.skip("SQLite: one machine, the supervisor opens and migrates before its workers (hub.workers)")
    opened = await asyncio.gather(*(open_db() for _ in range(3)))
    try:
        assert [await version(db) for db in opened] == [len(MIGRATIONS)] * 3
    finally:
        for db in opened:
            await db.close()


async def test_only_new_migrations_run(open_db: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    await (await open_db()).close()
    monkeypatch.setattr(
        "hub.db.MIGRATIONS", (*MIGRATIONS, "CREATE TABLE extra (x TEXT); INSERT INTO extra VALUES ('once')")
    )
    for _ in range(2):
        database = await open_db()
        try:
            assert await version(database) == len(MIGRATIONS) + 1
            assert [tuple(r) for r in await database.fetch_all("SELECT x FROM extra")] == [("once",)]
        finally:
            await database.close()


async def test_failing_migration_leaves_the_old_version(open_db: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    await (await open_db()).close()
    recorder = ConnectionRecorder(monkeypatch)
    monkeypatch.setattr("hub.db.MIGRATIONS", (*MIGRATIONS, "CREATE TABLE half (x TEXT); SELECT * FROM nowhere"))
    try:
        with pytest.raises((sqlite3.OperationalError, asyncpg.UndefinedTableError), match="nowhere"):
            await open_db()
    finally:
        await recorder.close_all()  # see test_failed_open_closes_its_connection
    monkeypatch.setattr("hub.db.MIGRATIONS", MIGRATIONS)
    database = await open_db()
    try:
        assert await version(database) == len(MIGRATIONS)
        assert "half" not in await database.table_names()
    finally:
        await database.close()


def test_placeholders_and_row_counts_for_postgresql() -> None:
    assert numbered("SELECT ? , '?', \"a?\", 'it''s ?' -- ?\n, ?") == "SELECT $1 , '?', \"a?\", 'it''s ?' -- ?\n, $2"
    assert [rowcount(s) for s in ("INSERT 0 1", "UPDATE 3", "DELETE 0", "CREATE TABLE")] == [1, 3, 0, -1]


# --- SQLite only --------------------------------------------------------------------------------
@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "data" / "hub.sqlite3")
    yield database
    await database.close()


async def test_pragmas(sqlite_db: Database) -> None:
    assert (await sqlite_db.fetch_one("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
    assert (await sqlite_db.fetch_one("PRAGMA synchronous"))[0] == 2  # type: ignore[index]  # FULL
    assert (await sqlite_db.fetch_one("PRAGMA foreign_keys"))[0] == 1  # type: ignore[index]


async def test_open_creates_the_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "hub.sqlite3"
    database = await Database.open(path)
    await database.close()
    assert path.exists()


async def test_readers_on_another_connection_see_only_committed_rows(tmp_path: Path, sqlite_db: Database) -> None:
    path = tmp_path / "data" / "hub.sqlite3"
    async with sqlite_db.transaction() as tx:
        await tx.execute(INSERT_OFFICE, office_row())
        with contextlib.closing(sqlite3.connect(path)) as reader:
            assert reader.execute("SELECT count(*) FROM offices").fetchone() == (0,)
    with contextlib.closing(sqlite3.connect(path)) as reader:
        assert reader.execute("SELECT count(*) FROM offices").fetchone() == (1,)


class ConnectionRecorder:
    """Wraps aiosqlite.connect to keep every connection Database.open makes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.connections: list[aiosqlite.Connection] = []
        connect = aiosqlite.connect

        def recording(*args: Any, **kwargs: Any) -> aiosqlite.Connection:
            connection = connect(*args, **kwargs)
            self.connections.append(connection)
            return connection

        monkeypatch.setattr("hub.db.aiosqlite.connect", recording)

    async def close_all(self) -> None:
        for connection in self.connections:
            await connection.close()


async def test_failed_open_closes_its_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = ConnectionRecorder(monkeypatch)
    monkeypatch.setattr("hub.db.MIGRATIONS", ("SELECT * FROM nowhere",))
    try:
        with pytest.raises(sqlite3.OperationalError):
            await Database.open(tmp_path / "hub.sqlite3")
        (connection,) = recorder.connections
        assert connection._connection is None, "Database.open left its connection open"
    finally:
        await recorder.close_all()


# --- the service, called directly ---------------------------------------------------------------
@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca = CertificateAuthority.create(now=NOW - dt.timedelta(days=1))
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(ca.certificate.public_bytes(Encoding.PEM))
    return path


@pytest.fixture
async def service(tmp_path: Path, ca_pem: Path, open_db: Opener) -> AsyncIterator[HubService]:
    config = HubConfig(data_dir=tmp_path / "hub", session_hours=12)
    database = await open_db()
    clock = Clock()
    clock.set(NOW, frozen=True)
    yield HubService(
        config=config,
        db=database,
        payloads=PayloadStore(config.payload_dir, config.key_file),
        trust=TrustStore(ca_pem, ca_pem.parent / "crl.pem"),
        clock=clock,
    )
    await database.close()


def peer(number: str = OFFICE, fingerprint: str = "f" * 64) -> OfficeIdentity:
    return OfficeIdentity(
        office_number=number,
        office_user_id=f"KJ{number}",
        office_name="テスト",
        kind=CertificateKind.KAIGO,
        serial=0xABC,
        fingerprint=fingerprint,
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=700),
    )


async def register(service: HubService, number: str = OFFICE, **kwargs: object) -> dict[str, object]:
    args: dict[str, object] = {
        "office_number": number,
        "name": "テスト事業所",
        "service_kind": "43",
        "office_user_id": f"KJ{number}",
        "password": "secret",
    }
    return await service.register_office(**(args | kwargs))  # type: ignore[arg-type]


async def refusal(awaitable: object) -> CareplanError:
    with pytest.raises(CareplanError) as caught:
        await awaitable  # type: ignore[misc]
    return caught.value


async def test_register_office(service: HubService) -> None:
    office = await register(service, personal_users=[(f"C{OFFICE}01", "c-secret")])
    licence = office.pop("licence")
    assert office == {
        "office_number": OFFICE,
        "name": "テスト事業所",
        "service_kind": "43",
        "office_user_id": f"KJ{OFFICE}",
        "prefecture": OFFICE[:2],
    }
    assert licence["state"] == "有効"  # type: ignore[index]
    assert licence["expires"] != "-"  # type: ignore[index]
    office["licence"] = licence
    assert await service.offices() == [office]
    users = await service.db.fetch_all("SELECT user_id, password_hash FROM users ORDER BY user_id")
    assert [u["user_id"] for u in users] == [f"C{OFFICE}01", f"KJ{OFFICE}"]
    assert all("secret" not in u["password_hash"] for u in users)


async def test_register_refuses_bad_input_listing_every_problem(service: HubService) -> None:
    error = await refusal(register(service, "12345", office_user_id="U1", licence="free", personal_users=[("X1", "p")]))
    assert error.code == "BAD_REQUEST"
    assert error.operation is Operation.ADMIN
    for fragment in ("12345", "KJ", "'X1'", "licence"):
        assert fragment in error.detail
    assert await service.offices() == []


async def test_register_twice_is_office_exists_and_writes_nothing(service: HubService) -> None:
    await register(service)
    assert (await refusal(register(service))).code == "OFFICE_EXISTS"
    # Another number but the same KJ user: the office row is rolled back with the user row.
    error = await refusal(register(service, OTHER, office_user_id=f"KJ{OFFICE}"))
    assert error.code == "OFFICE_EXISTS"
    assert [o["office_number"] for o in await service.offices()] == [OFFICE]
    assert await count(service.db, "users") == 1


async def test_unknown_office(service: HubService) -> None:
    assert (await refusal(service.office(OFFICE))).code == "OFFICE_NOT_FOUND"


async def test_login_session_and_logout(service: HubService) -> None:
    await register(service)
    answer = await service.login(peer(), f"KJ{OFFICE}", "secret")
    assert answer["user_id"] == f"KJ{OFFICE}"
    assert answer["expires_at"] == (NOW + dt.timedelta(hours=12)).isoformat()
    token = str(answer["token"])
    session = await service.session(peer(), token, Operation.SEND)
    assert (session.user_id, session.office_number) == (f"KJ{OFFICE}", OFFICE)
    row = await service.db.fetch_one("SELECT token_hash FROM sessions")
    assert row is not None and token not in row[0]
    await service.logout(token)
    assert (await refusal(service.session(peer(), token, Operation.SEND))).code == "SESSION_REQUIRED"


async def test_login_refusals(service: HubService) -> None:
    await register(service, password_state="expired")
    await register(service, OTHER)
    assert (await refusal(service.login(peer(), f"KJ{OFFICE}", "wrong"))).code == "LOGIN_FAILED"
    assert (await refusal(service.login(peer(), "KJnobody", "secret"))).code == "LOGIN_FAILED"
    mismatch = await refusal(service.login(peer(OTHER), f"KJ{OFFICE}", "secret"))
    assert (mismatch.code, mismatch.operation) == ("CERT_OFFICE_MISMATCH", Operation.LOGIN)
    assert mismatch.message == "正しい電子証明書をインストールしてください。"
    assert (await refusal(service.login(peer(), f"KJ{OFFICE}", "secret"))).code == "PASSWORD_EXPIRED"
    assert await count(service.db, "sessions") == 0


async def test_session_expires_on_the_hub_clock(service: HubService) -> None:
    await register(service)
    token = str((await service.login(peer(), f"KJ{OFFICE}", "secret"))["token"])
    service.clock.advance(dt.timedelta(hours=12) - dt.timedelta(microseconds=1))
    await service.session(peer(), token, Operation.SEND)
    service.clock.advance(dt.timedelta(microseconds=1))
    assert (await refusal(service.session(peer(), token, Operation.SEND))).code == "SESSION_REQUIRED"


@pytest.mark.parametrize("operation", [Operation.SEND, Operation.RECEIVE])
async def test_session_used_with_another_certificate(service: HubService, operation: Operation) -> None:
    await register(service)
    token = str((await service.login(peer(), f"KJ{OFFICE}", "secret"))["token"])
    error = await refusal(service.session(peer(fingerprint="0" * 64), token, operation))
    assert (error.code, error.operation) == ("CERT_OFFICE_MISMATCH", operation)


async def test_refusals_are_audited(service: HubService) -> None:
    await service.record_refusal(
        peer="127.0.0.1",
        office_number=OFFICE,
        error=CareplanError("CERT_REVOKED", operation=Operation.LOGIN, detail="serial abc"),
    )
    await service.record_refusal(peer=None, office_number=None, error=CareplanError("BAD_REQUEST"))
    log = await service.audit_log()
    assert [(e["code"], e["operation"], e["office_number"]) for e in log] == [
        ("BAD_REQUEST", "load", None),
        ("CERT_REVOKED", "login", OFFICE),
    ]
    assert log[1]["detail"] == "serial abc"
    assert log[1]["at"] == NOW.isoformat()
    assert len(await service.audit_log(limit=1)) == 1


async def test_service_collects_unreferenced_payloads(service: HubService) -> None:
    await register(service)
    await register(service, OTHER)
    kept, orphan = service.payloads.new_name(), service.payloads.new_name()
    service.payloads.write(kept, b"kept")
    service.payloads.write(orphan, b"orphan")
    async with service.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO transmissions (id, sender, recipient, sender_user, manifest, manifest_sha256, signature, "
            "signer_fingerprint, signed_at, submitted_at, file_count, total_size) "
            "VALUES ('t1', ?, ?, 'u', ?, 'h', ?, 'f', 's', 's', 1, 4)",
            (OFFICE, OTHER, b"", b""),
        )
        await tx.execute("INSERT INTO transmission_files VALUES ('t1', 0, 'a.csv', 4, 'h', ?)", (kept,))
    assert await service.collect_garbage() == [orphan]
    assert service.payloads.read(kept) == b"kept"
    assert await service.collect_garbage() == []


@pytest.mark.parametrize(
    ("protocol", "classes"),
    [(Storage, (Database, PostgresDatabase)), (StorageTransaction, (Transaction, PostgresTransaction))],
)
def test_both_backends_implement_the_whole_interface(protocol: type, classes: tuple[type, ...]) -> None:
    """Every call of hub.storage's protocols exists on both backends with the same parameters."""
    wanted = {
        name: inspect.signature(member)
        for name, member in vars(protocol).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }
    assert {"transaction", "commit_together", "execute", "after_commit"} & set(wanted)
    for cls in classes:
        for name, signature in wanted.items():
            assert list(inspect.signature(getattr(cls, name)).parameters) == list(signature.parameters), (cls, name)
        assert hasattr(cls, "dialect") or protocol is StorageTransaction


@pytest.mark.parametrize(("ci", "outcome"), [("", "1 skipped"), ("true", "1 error")])
def test_without_postgresql_the_tests_skip_except_in_ci(tmp_path: Path, ci: str, outcome: str) -> None:
    env = {**os.environ, "CAREPLAN_PG_BIN": str(tmp_path / "nowhere"), "CI": ci}
    test = "tests/hub/test_store_db.py::test_schema_version_and_tables[postgresql]"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", test],
        capture_output=True, text=True, env=env, timeout=120, check=False, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert outcome in done.stdout, done.stdout
    assert "PostgreSQL is not installed" in done.stdout and "apt-get install postgresql-15" in done.stdout
