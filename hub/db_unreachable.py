"""Why the hub's PostgreSQL database cannot be reached, in words its operator can act on
(hub.db_postgres rule 5): each driver or socket error that says so becomes one Reason — connection
refused, no answer in time, authentication failed, no such database, too many connections, server
stopping or starting, host name unknown, the server closed the connection, other network or
server errors — with what to do about it, in Japanese and in English.

Rules this module keeps:
1. No text names a Python class: an error matched by nothing here still says what kind of failure
   it was (the driver's connection became unusable).
2. The texts name the URL's host, port, user and database, never its password (a URL too
   malformed to strip its password is not shown at all).
"""

from __future__ import annotations

import errno
import getpass
import os
import re
import shlex
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import asyncpg

from careplan.errors import CareplanError
from hub.dburl import without_password


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    """What went wrong, and what to do about it, in Japanese and in English. The texts name the
    URL's host, port, user and database (`{host}` …), never its password."""

    ja: str
    en: str
    fix_ja: str
    fix_en: str


_REFUSED = Reason(
    ja="接続を拒否されました（{host}:{port} で待ち受けているサーバーがありません）",
    en="connection refused (nothing listens on {host}:{port})",
    fix_ja="PostgreSQL を起動してください。起動しているなら、URL のホストとポート（{host}:{port}）を確認してください。",
    fix_en="Start PostgreSQL; if it runs, check the URL's host and port ({host}:{port}).",
)
_CLOSED = Reason(
    ja="サーバーが接続を閉じました（停止・再起動したか、接続が切られました）",
    en="the server closed the connection (it stopped or restarted, or the connection was cut)",
    fix_ja="PostgreSQL が動いているか確認してください。ハブは、データベースが戻ると自動でつなぎ直します。",
    fix_en="Check that PostgreSQL is running; the hub reconnects by itself once the database is back.",
)
_NETWORK = Reason(
    ja="ネットワークのエラーです（{errno}）",
    en="network error ({errno})",
    fix_ja="{host}:{port} に届くか（ホスト名、ネットワーク、ファイアウォール）確認してください。",
    fix_en="Check that {host}:{port} can be reached (host name, network, firewall).",
)
# First match wins: subclasses before their bases (TimeoutError and ConnectionError are OSErrors).
_REASONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Reason], ...] = (
    (
        TimeoutError,  # asyncio.TimeoutError is TimeoutError
        Reason(
            ja="応答がありません（{timeout:g}秒で時間切れ）",
            en="no answer (timed out after {timeout:g} s)",
            fix_ja="PostgreSQL が動いているか、{host}:{port} に届くか（ネットワーク、ファイアウォール）"
            "確認してください。",
            fix_en="Check that PostgreSQL runs and that {host}:{port} can be reached (network, firewall).",
        ),
    ),
    (ConnectionRefusedError, _REFUSED),
    ((ConnectionResetError, BrokenPipeError, asyncpg.ConnectionDoesNotExistError), _CLOSED),
    (
        socket.gaierror,
        Reason(
            ja="ホスト名「{host}」が見つかりません",
            en="host name {host!r} not found",
            fix_ja="URL のホスト名を確認してください。",
            fix_en="Check the URL's host name.",
        ),
    ),
    (OSError, _NETWORK),
    (
        asyncpg.InvalidAuthorizationSpecificationError,  # InvalidPasswordError is one
        Reason(
            ja="認証に失敗しました（ユーザー「{user}」）",
            en="authentication failed (user {user!r})",
            fix_ja="URL のユーザー名とパスワード、サーバーの pg_hba.conf を確認してください。",
            fix_en="Check the URL's user name and password, and the server's pg_hba.conf.",
        ),
    ),
    (
        asyncpg.InvalidCatalogNameError,
        Reason(
            ja="データベース「{database}」がありません",
            en="there is no database {database!r}",
            fix_ja="データベースを作成するか（例: {createdb}）、URL のデータベース名を確認してください。",
            fix_en="Create the database (e.g. {createdb}) or check the database name in the URL.",
        ),
    ),
    (
        asyncpg.TooManyConnectionsError,
        Reason(
            ja="接続数が上限に達しています",
            en="too many connections",
            fix_ja="ほかの接続を閉じるか、サーバーの max_connections を増やしてください（ハブは1プロセスあたり最大 "
            "{pool} 接続を使います）。",
            fix_en="Close other connections or raise the server's max_connections (the hub uses up to {pool} "
            "connections a process).",
        ),
    ),
    (
        (asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError),
        Reason(
            ja="サーバーが停止中・起動中です（いまは接続を受け付けていません）",
            en="the server is shutting down or starting up (not accepting connections now)",
            fix_ja="PostgreSQL の起動・再起動が終わるのを待つか、止まっているなら起動してください。",
            fix_en="Wait for PostgreSQL to finish starting or restarting, or start it if it stopped.",
        ),
    ),
    (asyncpg.PostgresConnectionError, _CLOSED),
    (
        asyncpg.PostgresError,
        Reason(
            ja="サーバーが接続を断りました（SQLSTATE {sqlstate}）",
            en="the server refused the connection (SQLSTATE {sqlstate})",
            fix_ja="PostgreSQL のログで SQLSTATE {sqlstate} の理由を確認してください。",
            fix_en="Look up SQLSTATE {sqlstate} in PostgreSQL's log for the reason.",
        ),
    ),
    (
        ValueError,  # asyncpg's ClientConfigurationError is one; so are urllib's on a malformed URL
        Reason(
            ja="URL の形式が正しくありません",
            en="the URL is malformed",
            fix_ja="postgresql://ユーザー:パスワード@ホスト:ポート/データベース の形で指定してください。",
            fix_en="Give it as postgresql://user:password@host:port/database.",
        ),
    ),
)
_DRIVER = Reason(  # anything else the driver raised: the connection is unusable, the cause unknown
    ja="データベースとの通信に失敗しました（接続が使えなくなりました）",
    en="talking to the database failed (the connection became unusable)",
    fix_ja=_CLOSED.fix_ja,
    fix_en=_CLOSED.fix_en,
)


def _errnos(exc: OSError) -> set[int]:
    """The OS error numbers of `exc`; asyncio's "Multiple exceptions: [Errno 111] …, [Errno 111] …"
    (one for each address of a host name, such as localhost's ::1 and 127.0.0.1) has them in its text."""
    if isinstance(exc.errno, int):
        return {exc.errno}
    return {int(number) for number in re.findall(r"\[Errno (\d+)\]", str(exc))}


def reason(exc: BaseException) -> Reason:
    """Why `exc` says the database cannot be reached (one of the table above, never a class name)."""
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return _CLOSED  # asyncpg's "connection is closed" / "connection was closed in the middle of operation"
    if isinstance(exc, OSError) and not isinstance(exc, TimeoutError) and _errnos(exc) == {errno.ECONNREFUSED}:
        return _REFUSED
    return next((found for kinds, found in _REASONS if isinstance(exc, kinds)), _DRIVER)


def _url_fields(url: str, exc: BaseException, *, timeout: float, pool: int) -> dict[str, object]:
    """What the texts may name: the URL's parts (libpq's defaults, as asyncpg takes them, where it
    leaves them out), never its password; '?' for parts of a URL too malformed to read."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or os.environ.get("PGHOST") or "localhost"
        port = str(parts.port or os.environ.get("PGPORT") or 5432)
        user = unquote(parts.username or "") or os.environ.get("PGUSER") or _login_name()
        database = unquote(parts.path.lstrip("/")) or os.environ.get("PGDATABASE") or user
    except ValueError:
        host, port, user, database = "?", "?", "?", "?"
    numbers = sorted(_errnos(exc)) if isinstance(exc, OSError) else []
    return {
        "host": host,
        "port": port,
        "user": user,
        "database": database,
        "createdb": shlex.join(["createdb", "-h", host, "-p", port, "-U", user, database]),
        "timeout": timeout,
        "pool": pool,
        "sqlstate": getattr(exc, "sqlstate", None) or "?",
        "errno": ", ".join(errno.errorcode.get(n, str(n)) for n in numbers) or "?",
    }


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        return "?"


def _shown(url: str) -> tuple[str, str]:
    """The URL as the texts show it (Japanese, English): without its password; not at all if too
    malformed to strip it."""
    try:
        return (without_password(url),) * 2
    except ValueError:
        return "（形式の正しくない URL）", "(a malformed URL)"


def refusal(url: str, exc: BaseException, *, timeout: float, pool: int) -> CareplanError:
    """DATABASE_UNAVAILABLE saying why (`reason`) and what to do, for the hub's operator: `timeout`
    is the connect timeout in seconds, `pool` the connections a hub process opens at most."""
    found, fields, (shown, shown_en) = reason(exc), _url_fields(url, exc, timeout=timeout, pool=pool), _shown(url)
    return CareplanError(
        "DATABASE_UNAVAILABLE",
        detail=f"データベース {shown} に接続できません: {found.ja.format(**fields)}",
        fix=found.fix_ja.format(**fields),
        detail_en=f"cannot reach the database {shown_en}: {found.en.format(**fields)}",
        fix_en=found.fix_en.format(**fields),
    )


class Cancelled(CareplanError):
    """DATABASE_UNAVAILABLE from a statement the server cancelled (`timed_out`): not retried, since
    a second try would wait as long again."""


def timed_out(url: str, exc: BaseException, *, seconds: float) -> Cancelled:
    """DATABASE_UNAVAILABLE for a statement the server cancelled (SQLSTATE 57014): it ran past the
    hub's `statement_timeout` of `seconds` (a lock held too long, an overloaded server), or an
    administrator cancelled it. Its transaction rolled back: nothing was changed."""
    shown, shown_en = _shown(url)
    by_hand = "user request" in str(exc)  # pg_cancel_backend(); a timeout says "statement timeout"
    why, why_en = (
        ("管理者が取り消しました（pg_cancel_backend）", "an administrator cancelled it (pg_cancel_backend)")
        if by_hand
        else (f"{seconds:g}秒以内に終わりませんでした（statement_timeout）", f"it did not finish within {seconds:g} s "
              "(statement_timeout)")
    )  # fmt: skip
    return Cancelled(
        "DATABASE_UNAVAILABLE",
        detail=f"データベース {shown} の処理を打ち切りました: {why}。何も変更されていません。",
        fix="しばらくしてから再度実行してください。続くときは、ハブの運用者が PostgreSQL の負荷と、"
        "長く続いているトランザクションやロック待ち（pg_stat_activity）を確認してください。",
        detail_en=f"a statement on the database {shown_en} was cancelled: {why_en}; nothing was changed",
        fix_en="Retry in a while. If it goes on, the hub's operator should check PostgreSQL's load and "
        "long-running transactions or lock waits (pg_stat_activity).",
    )
