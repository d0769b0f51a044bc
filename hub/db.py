"""The hub's embedded database: SQLite in WAL mode with synchronous=FULL, a versioned schema. One
of the two implementations of the storage interface (hub.storage; the other: hub.db_postgres), and
the home of the schema versions both backends apply.

Rules this module keeps:
1. One connection; every write transaction is `BEGIN IMMEDIATE` under one asyncio lock, so
   writers never interleave and a crash leaves either the whole transaction or none of it.
2. The schema version is `PRAGMA user_version`; `MIGRATIONS[n]` takes version n to n + 1.
3. Reads may run concurrently with writes (WAL); they see only committed rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

import aiosqlite

from hub.datadir import CANNOT_OPEN_EN, CANNOT_OPEN_JA, FROM_BACKUP_EN, FROM_BACKUP_JA, problem, using
from hub.storage import GroupCommit, Statements, Step, _Failed

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE offices (
        office_number TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        service_kind TEXT NOT NULL,
        office_user_id TEXT NOT NULL UNIQUE,
        licence TEXT NOT NULL DEFAULT 'none' CHECK (licence IN ('none', 'applied', 'valid')),
        licence_expires TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE users (
        user_id TEXT PRIMARY KEY,
        office_number TEXT NOT NULL REFERENCES offices(office_number),
        password_hash TEXT NOT NULL,
        password_state TEXT NOT NULL DEFAULT 'ok' CHECK (password_state IN ('ok', 'temporary', 'expired')),
        created_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(user_id),
        office_number TEXT NOT NULL REFERENCES offices(office_number),
        cert_fingerprint TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE TABLE transmissions (
        id TEXT PRIMARY KEY,
        sender TEXT NOT NULL REFERENCES offices(office_number),
        recipient TEXT NOT NULL REFERENCES offices(office_number),
        sender_user TEXT NOT NULL,
        manifest BLOB NOT NULL,
        manifest_sha256 TEXT NOT NULL UNIQUE,
        signature BLOB NOT NULL,
        signer_fingerprint TEXT NOT NULL,
        signed_at TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        file_count INTEGER NOT NULL,
        total_size INTEGER NOT NULL,
        downloaded_at TEXT,
        downloaded_by TEXT
    );
    CREATE INDEX transmissions_recipient ON transmissions(recipient, submitted_at);
    CREATE INDEX transmissions_sender ON transmissions(sender, submitted_at);
    CREATE TABLE transmission_files (
        transmission_id TEXT NOT NULL REFERENCES transmissions(id),
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        blob TEXT UNIQUE,
        PRIMARY KEY (transmission_id, position)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        peer TEXT,
        office_number TEXT,
        operation TEXT NOT NULL,
        code TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    """,
    # 2: licences as the pure lifecycle's JSON (careplan.licence), the usage website's sessions,
    # login throttling, personal users' initial passwords (sealed with the hub key, shown on the
    # top page until changed, R1.3) and directory correction requests (R3.8). The columns
    # offices.licence/licence_expires of version 1 are no longer read.
    """
    ALTER TABLE offices ADD COLUMN licence_json TEXT;
    ALTER TABLE offices ADD COLUMN prefecture TEXT NOT NULL DEFAULT '';
    ALTER TABLE offices ADD COLUMN address TEXT NOT NULL DEFAULT '';
    ALTER TABLE users ADD COLUMN initial_password BLOB;
    CREATE TABLE web_sessions (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(user_id),
        office_number TEXT NOT NULL REFERENCES offices(office_number),
        csrf TEXT NOT NULL,
        must_change_password INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE TABLE login_failures (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX login_failures_key ON login_failures(key, at);
    CREATE TABLE directory_corrections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        office_number TEXT NOT NULL,
        field TEXT NOT NULL,
        value TEXT NOT NULL,
        contact TEXT NOT NULL,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT '受付済'
    );
    """,
    # 3: logins (hub/throttle.py, hub/website.py): the throttle's counts per (user, source) pair and
    # per source, shared by every worker process; and the key that binds the usage website's CSRF
    # tokens to a session or pre-session cookie (random, made by SQLite once). login_failures of
    # version 2 is no longer written.
    """
    CREATE TABLE login_throttle (
        key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        last_failure_at TEXT NOT NULL
    );
    CREATE TABLE hub_secrets (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    INSERT INTO hub_secrets (name, value) VALUES ('csrf', randomblob(32));
    """,
    # 4 (issue 10, list pagination): keyset indexes so that one page of a send list or an inbox
    # costs the same at 10k and at 1M stored transmissions. Pages walk (submitted_at, id). The
    # indexes cover every column a list row shows (hub/listing.py), so a page never reads the
    # table rows, whose inline manifest and signature (~5 KB) spill onto overflow pages. The
    # pending inbox (the default view) gets a partial index: pending rows are a small, moving part
    # of an office's history. Self-contained: it only swaps indexes.
    """
    DROP INDEX IF EXISTS transmissions_recipient;
    DROP INDEX IF EXISTS transmissions_sender;
    CREATE INDEX transmissions_sender_page ON transmissions(sender, submitted_at, id,
        recipient, sender_user, signed_at, file_count, total_size, downloaded_at);
    CREATE INDEX transmissions_recipient_page ON transmissions(recipient, submitted_at, id,
        sender, sender_user, signed_at, file_count, total_size, downloaded_at);
    CREATE INDEX transmissions_pending_page ON transmissions(recipient, submitted_at, id,
        sender, sender_user, signed_at, file_count, total_size, downloaded_at)
        WHERE downloaded_at IS NULL;
    """,
    # 5 (issue 9 part B, retention and privacy): indexes for the retention purge and the daily
    # correction cap, and refusal details written before audit rows stopped quoting files: a
    # standard refusal's detail could hold values from the refused file (e.g. a 生年月日).
    """
    CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
    CREATE INDEX IF NOT EXISTS directory_corrections_received ON directory_corrections(received_at);
    UPDATE audit SET detail = '(removed: may have quoted values from the refused files)'
        WHERE code IN ('FORMAT_INVALID', 'COMBINATION_INVALID', 'FILE_TYPE_NOT_ALLOWED', 'DATA_LOAD_FAILED')
    """,
)


def _private(path: Path) -> None:
    """The database file exists with mode 0600 before SQLite opens it: SQLite gives its -wal and
    -shm files the mode of the database file, so they are private from their first byte too."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if name.exists():
            os.chmod(name, 0o600)


def _raise_unusable(path: Path, exc: sqlite3.DatabaseError) -> NoReturn:
    """A database file SQLite cannot open or read at start: not a database, malformed (restore it),
    or not openable (the folder's permissions); any other error (a lock held too long) as it is."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_CANTOPEN:
        raise problem(path, exc, CANNOT_OPEN_JA, CANNOT_OPEN_EN) from exc
    if isinstance(exc, sqlite3.OperationalError):
        raise exc
    raise problem(path, exc, FROM_BACKUP_JA, FROM_BACKUP_EN) from exc


class Database(GroupCommit):
    """The hub's SQLite connection. Open with `await Database.open(path)`; close with `close()`."""

    migrations: tuple[str, ...] | None = None  # a subclass may keep another schema (hub.control.store)

    dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection, lock_file: int) -> None:
        super().__init__()
        self._conn = connection
        self._write_lock = asyncio.Lock()  # writers of this process, in turn …
        self._lock_file = lock_file  # … and of every worker process (flock: see transaction)
        self._path = Path()  # set by open()
        self._reader: sqlite3.Connection | None = None  # lookup(): opened on the loop's thread
        # Observers (hub metrics): called after each commit with how many operations it carried
        # (1 while there is no group commit; see README Performance).
        self.on_commit_batch: Callable[[int], None] | None = None

    @classmethod
    async def open(cls, path: Path) -> Database:
        with using(path, CANNOT_OPEN_JA, CANNOT_OPEN_EN):  # its folder cannot be made or its mode set
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _private(path)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            _raise_unusable(path, exc)
        conn.row_factory = sqlite3.Row
        lock_file = os.open(path.with_name(path.name + ".write-lock"), os.O_RDWR | os.O_CREAT, 0o600)
        db = cls(conn, lock_file)
        db._path = path
        try:
            # busy_timeout first: opens at the same moment (worker processes) wait for the WAL switch
            for pragma in ("busy_timeout=5000", "journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
                await conn.execute(f"PRAGMA {pragma}")
            await db._migrate()
        except sqlite3.DatabaseError as exc:
            await db.close()
            _raise_unusable(path, exc)
        except BaseException:
            await db.close()  # never leave the connection's thread behind
            raise
        return db

    def where(self) -> str:
        return str(self._path)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await self._conn.close()
        os.close(self._lock_file)

    async def lookup(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """A small read by key (storage rule 4): answered on the event loop from a read-only
        connection of this thread. A few rows through an index take SQLite tens of microseconds,
        less than the trip to the connection's thread and back costs (a futex hand-off of the GIL
        each way). A WAL reader never waits for the writer; should SQLite still answer busy (a
        WAL reset or recovery in progress), the read goes to the thread, which may wait."""
        values = tuple(params)
        try:
            if self._reader is None:
                reader = sqlite3.connect(self._path, timeout=0, isolation_level=None)
                try:
                    reader.row_factory = sqlite3.Row
                    reader.execute("PRAGMA query_only = ON")
                except BaseException:
                    reader.close()
                    raise
                self._reader = reader
            return self._reader.execute(sql, values).fetchall()
        except sqlite3.OperationalError:
            return await self.fetch_all(sql, values)

    async def _lock_writers(self) -> None:
        """Take the write lock shared by every worker process of this database. Without it the
        processes would meet in SQLite's busy handler, which polls with sleeps of up to 100 ms;
        a blocked flock wakes as soon as the holder commits."""
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, self._lock_file, fcntl.LOCK_EX))
            try:
                await asyncio.shield(waiting)
            except asyncio.CancelledError:  # the thread still takes the lock: give it back then
                waiting.add_done_callback(lambda _: fcntl.flock(self._lock_file, fcntl.LOCK_UN))
                raise

    async def _migrate(self) -> None:
        """Take the schema to the newest version, one step a transaction. The version is read
        inside each write transaction: worker processes that open the same database at once (the
        control database is opened by every worker) take turns, and the later ones find the work
        done instead of creating the same tables again."""
        migrations = MIGRATIONS if self.migrations is None else self.migrations
        while True:
            async with self.transaction() as tx:
                row = await tx.fetch_one("PRAGMA user_version")
                number = row[0] if row is not None else 0
                if number >= len(migrations):
                    return
                await tx.executescript_in_tx(migrations[number])
                await tx.execute(f"PRAGMA user_version = {number + 1}")

    @contextlib.asynccontextmanager
    async def _writers_turn(self) -> AsyncIterator[None]:
        """This process's and every worker process's turn to write (storage rule 1)."""
        async with self._write_lock:
            await self._lock_writers()
            try:
                yield
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    @contextlib.asynccontextmanager
    async def transaction(self, *, operations: int = 1) -> AsyncIterator[Transaction]:
        """A write transaction: committed on exit, rolled back on any exception. `operations`:
        how many callers' writes it carries (group commit), for `on_commit_batch`."""
        async with self._writers_turn():
            await self._conn.execute("BEGIN IMMEDIATE")
            tx = Transaction(self._conn)
            try:
                yield tx
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")
            for callback in tx.committed:
                callback()
            if self.on_commit_batch is not None:
                self.on_commit_batch(operations)

    async def _commit_batch(self, works: list[Callable[[Any], Awaitable[Any]]]) -> list[Any]:
        """A batch of `Statements` in one trip to the connection's thread, BEGIN to COMMIT (the
        same statements, savepoints and outcomes as GroupCommit's, which any other batch takes)."""
        statements = [work for work in works if isinstance(work, Statements)]
        if len(statements) != len(works):
            return await super()._commit_batch(works)
        async with self._writers_turn():
            # The stamps are taken here, at the works' turn under the writers' lock (storage rule 3).
            resolved = [work.resolved() for work in statements]
            # aiosqlite has no public call for "run this function in the connection's thread";
            # `_execute` is the one its own methods use (tests/hub/test_store_db.py counts on it).
            run = self._conn._execute(_run_batch, self._conn._conn, resolved)  # type: ignore[no-untyped-call]
            outcomes: list[Any] = await run
            if self.on_commit_batch is not None:
                self.on_commit_batch(len(works))
            return outcomes

    # Each call is one trip to the connection's thread (execute and fetch together): aiosqlite's
    # cursor API costs three (execute, fetch, close), each a thread hand-off for the event loop.
    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self._conn.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def table_names(self) -> set[str]:
        return {r[0] for r in await self.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _run_batch(conn: sqlite3.Connection, works: list[tuple[list[Step], Any]]) -> list[Any]:
    """In the connection's thread: one write transaction for `works` (their resolved steps and
    stamps), each in a savepoint when there are several, as GroupCommit._commit_batch does, with
    the outcomes Statements.__call__ gives."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        outcomes: list[Any] = []
        alone = len(works) == 1  # alone: no savepoint needed, its exception rolls back all
        for number, (steps, result) in enumerate(works):
            if not alone:
                conn.execute(f"SAVEPOINT work{number}")
            try:
                for step in steps:
                    if step.kind == "many":
                        conn.executemany(step.sql, step.params)
                    elif step.kind == "fetch":
                        result = conn.execute(step.sql, step.params).fetchall()
                    else:
                        step.check(conn.execute(step.sql, step.params).rowcount)
                outcomes.append(result)
            except Exception as exc:
                if alone:
                    raise
                conn.execute(f"ROLLBACK TO work{number}")
                outcomes.append(_Failed(exc))
            if not alone:
                conn.execute(f"RELEASE work{number}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


class Transaction:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._conn = connection
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this transaction has committed (not if it rolls back), before the
        caller goes on (hub.sessions: a revocation is announced only after its commit)."""
        self.committed.append(callback)

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One trip to the connection's thread; the cursor of a write needs no closing."""
        cursor = await self._conn.execute(sql, tuple(params))
        return cursor.rowcount

    async def execute_many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        await self._conn.executemany(sql, [tuple(row) for row in rows])

    async def executescript_in_tx(self, script: str) -> None:
        # executescript() would COMMIT first; run the statements one by one instead.
        for statement in (s.strip() for s in script.split(";")):
            if statement:
                await self._conn.execute(statement)

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self._conn.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, tuple(params)))
