"""No PostgreSQL statement runs past the hub's statement timeout (hub.db_postgres rule 6): a stuck
lock or a slow statement answers DATABASE_UNAVAILABLE, in Japanese first, at once (not retried),
and changes nothing; only migrations, snapshots, restores and resets lift it for their own
transaction. Real PostgreSQL (the session's throwaway cluster), a timeout of 0.3 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from careplan.errors import CareplanError
from fixtures.pgcluster import PgCluster
from hub import db_postgres
from hub.db_postgres import PostgresDatabase

TIMEOUT = 0.3


@pytest.fixture
async def url(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(db_postgres, "STATEMENT_TIMEOUT", TIMEOUT)  # read when a pool opens
    return pg_cluster.new_database()


@pytest.fixture
async def db(url: str) -> AsyncIterator[PostgresDatabase]:
    opened = await PostgresDatabase.open(url)
    try:
        yield opened
    finally:
        await opened.close()


def _says_it_was_cut_short(error: CareplanError) -> None:
    assert error.code == "DATABASE_UNAVAILABLE" and error.status == 503
    assert f"{TIMEOUT:g}秒以内に終わりませんでした（statement_timeout）" in error.detail
    assert "何も変更されていません" in error.detail
    assert "pg_stat_activity" in error.fix and "しばらくしてから再度実行してください" in error.fix
    assert "did not finish within" in error.detail_en and "QueryCanceled" not in error.detail + error.detail_en


async def test_a_slow_read_is_cut_short_once_not_retried(db: PostgresDatabase) -> None:
    async with db.transaction() as tx:
        await tx.execute("CREATE SEQUENCE tries")  # nextval is never rolled back: it counts the tries
    with pytest.raises(CareplanError) as raised:
        await db.fetch_one("SELECT nextval('tries'), pg_sleep(5)")
    _says_it_was_cut_short(raised.value)
    tries = await db.fetch_one("SELECT last_value FROM tries")
    assert tries is not None and tries[0] == 1, "a retry would have waited as long again"
    assert (await db.fetch_one("SELECT 1"))[0] == 1  # type: ignore[index]  # the pool serves on


async def _insert(db: PostgresDatabase, name: str, *then: str) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO hub_secrets (name, value) VALUES (?, ?)", (name, b"x"))
        for sql in then:
            await tx.fetch_one(sql)


async def test_a_write_cut_short_changes_nothing(db: PostgresDatabase) -> None:
    with pytest.raises(CareplanError) as raised:
        await _insert(db, "timeout-test", "SELECT pg_sleep(5)")
    _says_it_was_cut_short(raised.value)
    assert await db.fetch_one("SELECT 1 FROM hub_secrets WHERE name = ?", ("timeout-test",)) is None


async def test_a_writer_stuck_behind_another_nodes_lock_is_answered(db: PostgresDatabase, url: str) -> None:
    """Another node holds the writers' advisory lock (rule 1) past the timeout: this node's write
    is refused after the timeout instead of waiting for ever."""
    other = await PostgresDatabase.open(url)
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with other.transaction():
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    try:
        await asyncio.wait_for(holding.wait(), 10)
        started = time.monotonic()
        with pytest.raises(CareplanError) as raised:
            await _insert(db, "waiting")
        assert time.monotonic() - started < 2 * TIMEOUT + 1.0
        _says_it_was_cut_short(raised.value)
    finally:
        release.set()
        await holder
        await other.close()
    await _insert(db, "after")  # the lock is free again: writes go on
    assert await db.fetch_one("SELECT 1 FROM hub_secrets WHERE name = ?", ("waiting",)) is None


async def test_copies_and_migrations_lift_the_timeout_for_their_own_transaction(db: PostgresDatabase) -> None:
    async with db.transaction() as tx:
        await tx.without_timeout()
        await tx.fetch_one("SELECT pg_sleep(?)", (2 * TIMEOUT,))  # longer than the timeout: not cut short
    row = await db.fetch_one("SHOW statement_timeout")
    assert row is not None and row[0] == f"{round(TIMEOUT * 1000)}ms", "SET LOCAL: only that transaction"


async def test_an_administrators_cancel_says_so(db: PostgresDatabase, url: str) -> None:
    async def sleep() -> None:
        async with db.transaction() as tx:
            await tx.without_timeout()  # only the cancel can end it early
            await tx.fetch_one("SELECT pg_sleep(30), 'cancel-me'")

    other = await PostgresDatabase.open(url)
    try:
        sleeping = asyncio.create_task(sleep())
        for _ in range(100):  # bounded: 100 × 10 ms while the sleep starts
            await asyncio.sleep(0.01)
            rows = await other.fetch_all(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE ? AND pid <> pg_backend_pid()",
                ("%cancel-me%",),
            )
            if rows:
                break
        with pytest.raises(CareplanError) as raised:
            await sleeping
        assert "管理者が取り消しました（pg_cancel_backend）" in raised.value.detail
    finally:
        await other.close()
