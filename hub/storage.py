"""The storage interface every hub module writes to, and the choice of its implementation.

Two implementations keep the same promises:
- `hub.db.Database`: SQLite in WAL mode (the embedded default, data_dir/hub.sqlite3);
- `hub.db_postgres.PostgresDatabase`: PostgreSQL through asyncpg, for several nodes on one database
  (`--database postgresql://…`, `CAREPLAN_HUB_DATABASE`, HubConfig.database_url).

What a caller may rely on, whichever the backend:
1. Write transactions never interleave, across every process and node of the hub: a transaction
   sees the committed rows of all earlier ones, so a check-then-write rule inside one stays true
   until its COMMIT (SQLite: BEGIN IMMEDIATE under a file lock; PostgreSQL: a transaction-scoped
   advisory lock taken first, see hub.db_postgres).
2. `transaction()` commits on exit and rolls back on any exception (cancellation included);
   `after_commit` callbacks run only after the COMMIT; `on_commit_batch(n)` is called after each
   COMMIT with how many callers' works it carried.
3. `commit_together(work)`: group commit. Works queued meanwhile share one transaction and one
   durable flush, each in its own SAVEPOINT; a work's result (or exception) reaches its caller only
   after that COMMIT; a failed work undoes only its own writes. A work that is only statements
   (`Statements`: no read between them) is the same work written as data: SQLite runs a batch of
   them, BEGIN to COMMIT, in one trip to its connection's thread instead of one per statement.
4. Reads (`fetch_one`, `fetch_all`, `lookup` on the database) see committed rows only and never
   wait for the writer.
5. Durability: a COMMIT has reached stable storage when `transaction()` exits (the control
   database may relax this for journal rows, see hub.control.store).
6. SQL is one portable text with `?` placeholders; a row supports r[0], r["column"] and dict(r).
   Where no portable SQL exists, the module that owns the query picks by `db.dialect`
   ("sqlite" or "postgresql").
7. Errors: a broken constraint raises one of `IntegrityError` (a tuple to catch); a database that
   cannot be reached raises CareplanError("DATABASE_UNAVAILABLE") (503 with Retry-After), never a
   driver exception. A statement that fails inside a transaction fails the whole transaction on
   PostgreSQL (SQLite would let it go on): catch a refused write outside `transaction()`, as
   hub.service and hub.offices do, or give it a SAVEPOINT of its own (group commit does).
8. A COMMIT whose answer was lost (the connection dropped while PostgreSQL committed) raises
   `CommitOutcomeUnknown`, a DATABASE_UNAVAILABLE: the transaction may have committed. A caller
   must then keep what the rows may name (hub.service keeps a submission's payload files; garbage
   collection removes them later if no row names them) — a retry may find its rows stored. It is
   also what the callers of a group commit hear when its committer is cancelled while it commits
   (shutting down); the works queued behind that batch are cancelled.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

from careplan.errors import PlatformError
from hub.dburl import is_postgres_url, without_password

T = TypeVar("T")


class ConstraintViolation(Exception):
    """PostgreSQL refused a write by a constraint (hub.db_postgres raises it for asyncpg's
    IntegrityConstraintViolationError, which is its __cause__, with the same message)."""


# What `except IntegrityError:` catches: a UNIQUE, FOREIGN KEY or CHECK constraint refused a write.
# Neither member needs asyncpg imported: a hub on SQLite (the default) never loads the driver.
IntegrityError: tuple[type[Exception], ...] = (sqlite3.IntegrityError, ConstraintViolation)


class StorageTransaction(Protocol):
    """One open write transaction (see the module docstring, rules 1 and 2)."""

    def after_commit(self, callback: Callable[[], None]) -> None: ...
    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""

    async def execute_many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None: ...
    async def executescript_in_tx(self, script: str) -> None:
        """Statements separated by `;`, with no parameters, inside this transaction."""

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Any: ...
    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]: ...


class Storage(Protocol):
    """The hub's database (see the module docstring for the guarantees)."""

    dialect: str
    on_commit_batch: Callable[[int], None] | None

    async def close(self) -> None: ...
    def transaction(self, *, operations: int = 1) -> AbstractAsyncContextManager[StorageTransaction]: ...
    async def commit_together(self, work: Callable[[Any], Awaitable[T]]) -> T: ...
    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Any: ...
    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]: ...
    async def lookup(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """`fetch_all` for a small read by key (a few rows through an index), on the hot paths:
        SQLite answers it without leaving the event loop (hub.db)."""

    async def table_names(self) -> set[str]:
        """The hub's tables (retention skips the tables an older schema lacks)."""


class _Stamp:
    def __repr__(self) -> str:
        return "STAMP"


STAMP: Any = _Stamp()  # in a Statements' parameters: the value of its `stamp`, taken at its turn


class Step(NamedTuple):
    """One statement of a `Statements` work: `kind` "execute" (params), "many" (rows, for
    executemany) or "fetch" (its rows are the work's result); `expect`: the number of rows an
    "execute" must change, else the work fails with RowsNotAsExpected (its writes undone)."""

    sql: str
    params: Any
    kind: str = "execute"
    expect: int | None = None

    def check(self, changed: int) -> None:
        """Raise RowsNotAsExpected when this step changed another number of rows than it expects."""
        if self.expect is not None and changed != self.expect:
            raise RowsNotAsExpected(self.sql, self.expect, changed)


class RowsNotAsExpected(Exception):
    """A Statements' step changed another number of rows than it expects: the work is undone."""

    def __init__(self, sql: str, expected: int, changed: int) -> None:
        super().__init__(f"{changed} rows changed, {expected} expected: {sql}")
        self.changed = changed


@dataclass(frozen=True, slots=True)
class Statements:
    """A write that is only statements, as data (`Step`s: no Python between them). `stamp`, if
    given, is called at the work's turn in the write transaction (under the writers' lock, on the
    event loop) and its value replaces STAMP in the parameters: e.g. a submitted_at that orders
    rows as they commit. The work's result is the rows of its "fetch" step, else the stamp."""

    steps: tuple[Step, ...]
    stamp: Callable[[], Any] | None = None

    def resolved(self) -> tuple[list[Step], Any]:
        """The steps with STAMP replaced (call at the work's turn), and the stamp's value."""
        value = self.stamp() if self.stamp is not None else None

        def fill(params: Iterable[Any]) -> tuple[Any, ...]:
            return tuple(value if p is STAMP else p for p in params)

        steps = [
            step._replace(params=[fill(r) for r in step.params] if step.kind == "many" else fill(step.params))
            for step in self.steps
        ]
        return steps, value

    async def __call__(self, tx: Any) -> Any:
        """The same work through any transaction, one statement at a time."""
        steps, result = self.resolved()
        for step in steps:
            if step.kind == "many":
                await tx.execute_many(step.sql, step.params)
            elif step.kind == "fetch":
                result = await tx.fetch_all(step.sql, step.params)
            else:
                step.check(await tx.execute(step.sql, step.params))
        return result


async def lookup_one(db: Storage, sql: str, params: Iterable[Any] = ()) -> Any:
    """The one row of a small read by key (`Storage.lookup`), or None."""
    rows = await db.lookup(sql, params)
    return rows[0] if rows else None


def statement(sql: str, params: Iterable[Any] = (), *, expect: int | None = None) -> Step:
    return Step(sql, tuple(params), "execute", expect)


def statement_many(sql: str, rows: Iterable[Iterable[Any]]) -> Step:
    return Step(sql, [tuple(row) for row in rows], "many")


def statement_fetch(sql: str, params: Iterable[Any] = ()) -> Step:
    return Step(sql, tuple(params), "fetch")


@dataclass(frozen=True, slots=True)
class _Failed:
    """A work of a group commit that raised: its savepoint was rolled back, the batch committed."""

    error: Exception


class GroupCommit:
    """`commit_together` for both backends, over their `transaction()` (rule 3 above)."""

    def __init__(self) -> None:
        self._queue: list[tuple[Callable[[Any], Awaitable[Any]], asyncio.Future[Any]]] = []
        self._committer: asyncio.Task[None] | None = None

    def transaction(self, *, operations: int = 1) -> AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def commit_together(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Group commit: run `work` in a write transaction shared with the other works queued
        meanwhile — one BEGIN … COMMIT and one durable flush for all — and return its result
        only after that COMMIT. Each work of a batch runs in its own SAVEPOINT, so its exception
        undoes only its own writes and is raised to its own caller. Once queued, a work's outcome
        is awaited even if the caller is cancelled: a caller must never believe its writes were
        not committed when they were (hub.service deletes payloads on failure)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued())
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.done():
                await asyncio.wait([future])
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            return future.result()

    async def _commit_queued(self) -> None:
        """Commit what is queued, in batches, until the queue is empty: the works that arrive while
        one batch commits form the next batch."""
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                outcomes = await self._commit_batch([work for work, _ in batch])
            except Exception as exc:  # nothing of the batch was committed
                outcomes = [exc] * len(batch)
            except asyncio.CancelledError:  # shutting down: every caller hears an outcome, then it stops
                self._answer_at_cancel(batch)
                raise
            for outcome, (_, future) in zip(outcomes, batch, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, _Failed):
                    future.set_exception(outcome.error)
                elif isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _answer_at_cancel(self, batch: list[tuple[Callable[[Any], Awaitable[Any]], asyncio.Future[Any]]]) -> None:
        """The committer is cancelled (asyncio.run cancels every task at the end, this one with its
        callers, who wait for their outcome even when cancelled): the batch it was committing may
        have committed (its COMMIT may have reached the database), so its callers hear
        CommitOutcomeUnknown (rule 8: they keep what the rows may name); the works queued after it
        never began, so theirs are cancelled. No caller waits for ever."""
        unknown = CommitOutcomeUnknown(self.where())
        for _, future in batch:
            if not future.done():
                future.set_exception(unknown)
        queued, self._queue = self._queue, []
        for _, future in queued:
            future.cancel()

    def where(self) -> str:
        """The database as a message may name it (a URL without its password, or a file)."""
        raise NotImplementedError

    async def _commit_batch(self, works: list[Callable[[Any], Awaitable[Any]]]) -> list[Any]:
        if len(works) == 1:  # alone: no savepoint needed, its exception rolls the transaction back
            async with self.transaction() as tx:
                return [await works[0](tx)]
        outcomes: list[Any] = []
        async with self.transaction(operations=len(works)) as tx:
            for number, work in enumerate(works):
                await tx.execute(f"SAVEPOINT work{number}")
                try:
                    outcomes.append(await work(tx))
                except Exception as exc:
                    await tx.execute(f"ROLLBACK TO work{number}")
                    outcomes.append(_Failed(exc))
                await tx.execute(f"RELEASE work{number}")
        return outcomes


class CommitOutcomeUnknown(PlatformError):
    """DATABASE_UNAVAILABLE from a COMMIT whose answer was lost: it may have committed (rule 8)."""

    def __init__(self, url: str) -> None:
        super().__init__(
            "DATABASE_UNAVAILABLE",
            detail=f"データベース {without_password(url)} からコミットの応答がありません"
            "（保存されたかどうか分かりません）",
            fix="同じ送信ID・同じマニフェストと署名のまま再送してください。"
            "保存済みなら already_stored として答えます。",
            detail_en=f"the database {without_password(url)} did not answer the COMMIT: it may have been stored",
            fix_en="Retry with the same transaction id, manifest and signature: "
            "answered already_stored if it was stored.",
        )


async def open_storage(url: str, sqlite_path: Path) -> Storage:
    """The hub's database: PostgreSQL when `url` is a postgresql:// URL, SQLite at `sqlite_path`
    when it is empty (anything else is a ValueError, never a quiet SQLite). Raises
    CareplanError("DATABASE_UNAVAILABLE") when PostgreSQL cannot be reached."""
    if is_postgres_url(url):
        from hub.db_postgres import PostgresDatabase

        return await PostgresDatabase.open(url)
    if url:  # the command line refuses it with a message (hub.cli); a caller of its own gets this
        raise ValueError(f"{without_password(url)}: the database URL is postgresql://… or empty (SQLite)")
    from hub.db import Database

    return await Database.open(sqlite_path)
