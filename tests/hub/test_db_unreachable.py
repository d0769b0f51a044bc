"""DATABASE_UNAVAILABLE says in words why the database cannot be reached and what to do
(hub.db_unreachable): one reason for each kind of driver or socket error, never a Python class name,
never the password; and one real refused connection to a loopback port nobody listens on."""

from __future__ import annotations

import asyncio
import errno
import socket
from pathlib import Path

import asyncpg
import pytest

from careplan.errors import CareplanError
from fixtures.pgcluster import PgCluster, free_port
from hub.db_postgres import CONNECT_TIMEOUT, POOL_SIZE, PostgresDatabase, unavailable
from hub.dburl import refusal_line
from hub.storage import open_storage

URL = "postgresql://careplan:s3cret@db.example:5433/careplan"


def _refused_twice() -> OSError:
    """What asyncio raises when every address of a host name (localhost: ::1 and 127.0.0.1) refuses."""
    return OSError(
        "Multiple exceptions: [Errno 111] Connect call failed ('::1', 5433, 0, 0), "
        "[Errno 111] Connect call failed ('127.0.0.1', 5433)"
    )


# (the error, what the detail says in Japanese and English, what the fix says in Japanese and English)
REASONS = [
    (
        ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
        "接続を拒否されました（db.example:5433 で待ち受けているサーバーがありません）",
        "connection refused (nothing listens on db.example:5433)",
        "PostgreSQL を起動してください",
        "Start PostgreSQL",
    ),
    (
        _refused_twice(),
        "接続を拒否されました",
        "connection refused",
        "URL のホストとポート（db.example:5433）を確認",
        "check the URL's host and port (db.example:5433)",
    ),
    (
        TimeoutError(),
        f"応答がありません（{CONNECT_TIMEOUT:g}秒で時間切れ）",
        f"no answer (timed out after {CONNECT_TIMEOUT:g} s)",
        "db.example:5433 に届くか",
        "db.example:5433 can be reached",
    ),
    (
        asyncpg.InvalidPasswordError('password authentication failed for user "careplan"'),
        "認証に失敗しました（ユーザー「careplan」）",
        "authentication failed (user 'careplan')",
        "ユーザー名とパスワード、サーバーの pg_hba.conf を確認",
        "user name and password, and the server's pg_hba.conf",
    ),
    (
        asyncpg.InvalidAuthorizationSpecificationError("no pg_hba.conf entry"),
        "認証に失敗しました",
        "authentication failed",
        "pg_hba.conf",
        "pg_hba.conf",
    ),
    (
        asyncpg.InvalidCatalogNameError('database "careplan" does not exist'),
        "データベース「careplan」がありません",
        "there is no database 'careplan'",
        "createdb -h db.example -p 5433 -U careplan careplan",
        "Create the database (e.g. createdb -h db.example -p 5433 -U careplan careplan)",
    ),
    (
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        "接続数が上限に達しています",
        "too many connections",
        f"max_connections を増やしてください（ハブは1プロセスあたり最大 {POOL_SIZE} 接続",
        f"raise the server's max_connections (the hub uses up to {POOL_SIZE} connections",
    ),
    (
        asyncpg.CannotConnectNowError("the database system is starting up"),
        "サーバーが停止中・起動中です",
        "the server is shutting down or starting up",
        "起動・再起動が終わるのを待つか",
        "Wait for PostgreSQL to finish starting",
    ),
    (
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        "サーバーが停止中・起動中です",
        "shutting down or starting up",
        "止まっているなら起動してください",
        "or start it if it stopped",
    ),
    (
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        "ホスト名「db.example」が見つかりません",
        "host name 'db.example' not found",
        "URL のホスト名を確認",
        "Check the URL's host name",
    ),
    (
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        "サーバーが接続を閉じました",
        "the server closed the connection",
        "自動でつなぎ直します",
        "reconnects by itself",
    ),
    (
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        "サーバーが接続を閉じました",
        "the server closed the connection",
        "PostgreSQL が動いているか確認",
        "Check that PostgreSQL is running",
    ),
    (
        asyncpg.InterfaceError("connection is closed"),
        "サーバーが接続を閉じました",
        "the server closed the connection",
        "PostgreSQL が動いているか確認",
        "Check that PostgreSQL is running",
    ),
    (
        OSError(errno.EHOSTUNREACH, "No route to host"),
        "ネットワークのエラーです（EHOSTUNREACH）",
        "network error (EHOSTUNREACH)",
        "ファイアウォール",
        "firewall",
    ),
    (
        asyncpg.ClientConfigurationError("invalid connection option"),
        "URL の形式が正しくありません",
        "the URL is malformed",
        "postgresql://ユーザー:パスワード@ホスト:ポート/データベース",
        "postgresql://user:password@host:port/database",
    ),
    (
        asyncpg.FeatureNotSupportedError("unsupported frontend protocol"),
        "サーバーが接続を断りました（SQLSTATE 0A000）",
        "the server refused the connection (SQLSTATE 0A000)",
        "SQLSTATE 0A000",
        "SQLSTATE 0A000",
    ),
    (
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        "データベースとの通信に失敗しました",
        "talking to the database failed",
        "PostgreSQL が動いているか確認",
        "Check that PostgreSQL is running",
    ),
]


@pytest.mark.parametrize(("exc", "ja", "en", "fix_ja", "fix_en"), REASONS, ids=lambda v: type(v).__name__)
def test_each_reason_says_what_happened_and_what_to_do(
    exc: BaseException, ja: str, en: str, fix_ja: str, fix_en: str
) -> None:
    error = unavailable(URL, exc)
    assert error.code == "DATABASE_UNAVAILABLE" and error.status == 503
    assert error.detail.startswith("データベース postgresql://careplan:***@db.example:5433/careplan に接続できません: ")
    assert error.detail_en.startswith("cannot reach the database postgresql://careplan:***@db.example:5433/careplan: ")
    assert ja in error.detail and en in error.detail_en
    assert fix_ja in error.fix and fix_en in error.fix_en
    texts = (error.detail, error.detail_en, error.fix, error.fix_en)
    for text in texts:
        assert "s3cret" not in text
        assert not any(name in text for name in (type(exc).__name__, "Error", "Exception")), text


async def test_a_url_too_malformed_to_hide_its_password_is_refused_without_it() -> None:
    url = "postgresql://careplan:s3cret@[::1:5432/careplan"  # urlsplit: "Invalid IPv6 URL"
    with pytest.raises(CareplanError) as refused:  # read at the first connection, not as a traceback
        await asyncio.wait_for(PostgresDatabase.open(url), 30)
    error = refused.value
    texts = " ".join((error.detail, error.detail_en, error.fix, error.fix_en))
    assert "s3cret" not in texts and "[::1" not in texts
    assert "形式の正しくない URL" in error.detail and "URL の形式が正しくありません" in error.detail
    assert "(a malformed URL)" in error.detail_en and "the URL is malformed" in error.detail_en


def test_the_start_line_says_why_and_what_to_do_in_both_languages() -> None:
    line = refusal_line("careplan hub serve", unavailable(URL, ConnectionRefusedError(errno.ECONNREFUSED, "")))
    assert line is not None and "\n" not in line
    japanese, english = line.split(" / ", 1)
    assert "接続を拒否されました" in japanese and "PostgreSQL を起動してください" in japanese
    assert "connection refused" in english and "Start PostgreSQL" in english


async def test_a_real_refused_connection_on_a_loopback_port() -> None:
    port = free_port()  # bound and closed: nothing listens there now
    with pytest.raises(CareplanError) as refused:
        await asyncio.wait_for(PostgresDatabase.open(f"postgresql://careplan:s3cret@127.0.0.1:{port}/careplan"), 30)
    error = refused.value
    assert error.code == "DATABASE_UNAVAILABLE"
    assert f"接続を拒否されました（127.0.0.1:{port} で待ち受けているサーバーがありません）" in error.detail
    assert f"connection refused (nothing listens on 127.0.0.1:{port})" in error.detail_en
    assert "PostgreSQL を起動してください" in error.fix and "Start PostgreSQL" in error.fix_en
    assert "s3cret" not in str(error) + error.detail_en + error.fix + error.fix_en
    assert "ConnectionRefusedError" not in error.detail + error.detail_en


async def test_a_real_unknown_database(pg_cluster: PgCluster) -> None:
    with pytest.raises(CareplanError) as refused:
        await asyncio.wait_for(PostgresDatabase.open(pg_cluster.url("no_such_database")), 30)
    error = refused.value
    assert error.code == "DATABASE_UNAVAILABLE"
    assert "データベース「no_such_database」がありません" in error.detail
    assert f"createdb -h 127.0.0.1 -p {pg_cluster.port} -U careplan no_such_database" in error.fix


async def test_a_database_url_of_another_kind_is_refused_not_sqlite(tmp_path: Path) -> None:
    """Only postgresql:// or nothing: a mysql:// URL never quietly becomes data_dir/hub.sqlite3."""
    with pytest.raises(ValueError, match=r"postgresql://… or empty") as refused:
        await open_storage("mysql://user:secret@db/careplan", tmp_path / "hub.sqlite3")
    assert "secret" not in str(refused.value), "the URL is shown without its password"
    assert not (tmp_path / "hub.sqlite3").exists()
