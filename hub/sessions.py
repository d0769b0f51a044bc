"""Sessions of the API, and the password check both login paths share (API and usage website).

Rules this module keeps:
1. No password oracle. A user of another office than the certificate's is refused with
   CERT_OFFICE_MISMATCH before any password is looked at; an unknown user (or one the caller does
   not admit) and a wrong password answer LOGIN_FAILED alike, after one scrypt each (a dummy hash
   stands in for a missing one). PASSWORD_EXPIRED comes only after the right password. The
   mismatch says the user ID exists, so it passes the throttle as a failure and costs one scrypt
   too: a certificate can probe few user IDs, and slowly.
2. Every password check goes through the login throttle (`hub.throttle`), counted per user and
   source (certificate or address); the attempt is closed in the transaction that opens the session.
3. A session is bound to the certificate that opened it, expires on the hub's clock, and ends with
   logout or with any password change of its user (`revoke_sessions`, web sessions included).
4. Sessions found are cached per process (`SessionCache`: one database round trip less per
   request) without changing rule 3: expiry and the certificate are judged on every request as
   before, an entry lives at most CACHE_SECONDS on the hub's clock (and not at all once the clock
   is moved back before it), and every end of sessions bumps a revocation generation shared by all
   worker processes (a mapped file) after its commit, which empties every process's cache. A
   lookup reads the generation before the database, so no process can keep a session ended by a
   commit that an answer already reported. Nodes on several machines (a shared database) keep the
   generation in the database instead: bumped in the very transaction that ends the sessions, read
   by every node at the start of each request (hub.nodes).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import mmap
import secrets
import sqlite3
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from careplan.certificates import OfficeIdentity
from careplan.errors import CareplanError, Operation
from hub import tokens
from hub.clock import Clock, mapped_file
from hub.config import HubConfig
from hub.passwords import PasswordHasher
from hub.storage import Storage as Database
from hub.storage import StorageTransaction as Transaction
from hub.storage import lookup_one
from hub.throttle import Attempt, LoginThrottle, certificate_source


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    user_id: str
    office_number: str
    cert_fingerprint: str
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedUser:
    """A user whose password was just verified, and its counted login attempt."""

    row: sqlite3.Row
    attempt: Attempt


def _token_hash(token: str) -> str:
    return tokens.digest(token)


CACHE_SECONDS = 5  # how long (hub clock) a found session is used without reading it again
CACHE_ENTRIES = 10_000  # a bound on memory: the cache starts over when full
_GENERATION = struct.Struct("<Q")
# The shared database's generation (hub.nodes keeps the row; it is here so ending sessions needs
# nothing else): one row, never restored by a snapshot, so it only grows.
REVOKE_SQL = "UPDATE node_state SET revocations = revocations + 1 WHERE id = 1"


class SessionCache:
    """Sessions found, by token hash, valid while the revocation generation in `path` (shared by
    every process of the hub, like hub.clock's SharedClock) is the one read before finding them.
    Without a path the generation is a row of the shared database (nodes on several machines,
    hub.nodes): bumped inside the transaction that ends sessions, adopted by each node at the start
    of every request."""

    def __init__(self, path: Path | None) -> None:
        self._map: mmap.mmap | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._map = mapped_file(path, _GENERATION.size)
        self._path = path
        self._adopted = 0
        self._entries: dict[str, tuple[Session, int, dt.datetime]] = {}
        self._seen = 0

    def generation(self) -> int:
        """The generation now; a change empties this process's cache. Read it before the database."""
        current: int = self._adopted if self._map is None else _GENERATION.unpack_from(self._map)[0]
        if current != self._seen:
            self._entries.clear()
            self._seen = current
        return current

    def adopt(self, generation: int) -> None:
        """The generation read from the shared database (hub.nodes); it only grows."""
        self._adopted = max(self._adopted, generation)

    def get(self, token_hash: str, now: dt.datetime) -> Session | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        session, generation, cached_at = entry
        if generation != self.generation() or not cached_at <= now < cached_at + dt.timedelta(seconds=CACHE_SECONDS):
            self._entries.pop(token_hash, None)
            return None
        return session

    def put(self, token_hash: str, session: Session, generation: int, now: dt.datetime) -> None:
        if len(self._entries) >= CACHE_ENTRIES:
            self._entries.clear()
        self._entries[token_hash] = (session, generation, now)

    async def revoking(self, tx: Transaction) -> None:
        """Sessions are being ended in `tx`: every process and node reads them again once it
        commits. The database's generation is bumped in `tx` itself (a row lock; committed with
        the end of the sessions, before any answer reports it); the mapped one right after it."""
        if self._map is None:
            await tx.execute(REVOKE_SQL)
            tx.after_commit(self._entries.clear)
        else:
            tx.after_commit(self.revoked)

    def revoked(self) -> None:
        """Sessions were ended (call after the commit): every process reads them again. The
        increment is under an exclusive lock on the file (two ends at once both count)."""
        if self._map is None or self._path is None:
            raise RuntimeError("the generation of a shared database is bumped in the transaction (revoking)")
        with open(self._path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            _GENERATION.pack_into(self._map, 0, _GENERATION.unpack_from(self._map)[0] + 1)
        self._entries.clear()

    def close(self) -> None:
        if self._map is not None:
            self._map.close()


class Sessions:
    """Logging in, finding and ending sessions; HubService builds on this class."""

    config: HubConfig
    db: Database
    clock: Clock
    hasher: PasswordHasher
    throttle: LoginThrottle
    session_cache: SessionCache
    whoami: Callable[[Session], Awaitable[dict[str, object]]]  # HubService's (office and licence)

    async def login(self, peer: OfficeIdentity, user_id: str, password: str) -> dict[str, object]:
        """Open a session bound to the peer's certificate.

        Order (no password oracle): a user of another office is refused (CERT_OFFICE_MISMATCH)
        before any password is looked at; then the throttle (LOGIN_THROTTLED); then the password,
        where an unknown user and a wrong password answer alike (LOGIN_FAILED) after the same work.
        """
        user = await self.db.fetch_one("SELECT * FROM users WHERE user_id = ?", (user_id,))
        if user is not None and user["office_number"] != peer.office_number:
            # No password is looked at, but the answer says the user ID exists: it goes through the
            # throttle, counted as a failure, and costs what a wrong password costs, so that one
            # certificate cannot find out quickly and without end which user IDs exist.
            await self.throttle.begin(user_id, certificate_source(peer.fingerprint))
            await self.hasher.verify(password, None)
            raise CareplanError(
                "CERT_OFFICE_MISMATCH",
                operation=Operation.LOGIN,
                detail=f"ユーザ {user_id} は事業所 {user['office_number']} のユーザですが、この端末の証明書は"
                f"事業所 {peer.office_number}（{peer.office_user_id}）のものです",
                fix=f"事業所 {user['office_number']} の証明書をこの端末にインストールするか、"
                f"事業所 {peer.office_number} のユーザでログインしてください。",
                detail_en=f"user {user_id} belongs to office {user['office_number']}, but the terminal's "
                f"certificate is office {peer.office_number}'s ({peer.office_user_id})",
                fix_en=f"Install office {user['office_number']}'s certificate on this terminal, or log in "
                f"with a user of office {peer.office_number}.",
            )
        user = await self.check_password(
            user_id, password, source=certificate_source(peer.fingerprint), found=user, operation=Operation.LOGIN
        )
        if user.row["password_state"] != "ok":
            await self._take_back(user.attempt)  # the password was right: not a failure
            raise CareplanError(
                "PASSWORD_EXPIRED",
                detail=f"{user_id} のパスワードは"
                f"{'仮パスワード' if user.row['password_state'] == 'temporary' else '有効期限切れ'}です",
                fix="利用状況Webサイトでパスワードを変更してから、もう一度ログインしてください。",
                detail_en=f"the password of {user_id} is {user.row['password_state']}",
                fix_en="Change the password on the usage website, then log in again.",
            )
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        expires = now + dt.timedelta(hours=self.config.session_hours)
        async with self.db.transaction() as tx:
            await user.attempt.succeeded(tx)
            await tx.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
                (
                    _token_hash(token),
                    user_id,
                    peer.office_number,
                    peer.fingerprint,
                    now.isoformat(),
                    expires.isoformat(),
                ),
            )
        return {"token": token, "expires_at": expires.isoformat(), "user_id": user_id} | await self.whoami(
            Session(
                user_id=user_id, office_number=peer.office_number, cert_fingerprint=peer.fingerprint, expires_at=expires
            )
        )

    async def check_password(
        self,
        user_id: str,
        password: str,
        *,
        source: str,
        found: sqlite3.Row | None,
        operation: Operation,
        admit: Callable[[sqlite3.Row], bool] = lambda row: True,
    ) -> CheckedUser:
        """The user row `found` for `user_id` if `password` is its password, through the throttle
        (counted per user and `source`). A missing user, one `admit` refuses and a wrong password
        all answer LOGIN_FAILED after one scrypt each. The caller ends the attempt: `succeeded`
        inside the transaction that opens the session."""
        attempt = await self.throttle.begin(user_id, source)
        stored = found["password_hash"] if found is not None and admit(found) else None
        if found is None or stored is None or not await self.hasher.verify(password, stored):
            if stored is None:  # the same scrypt as for a real user (no user oracle by timing)
                await self.hasher.verify(password, None)
            raise CareplanError(
                "LOGIN_FAILED",
                operation=operation,
                detail=f"ユーザ {user_id!r}: ユーザIDまたはパスワードが違います",
                fix="ユーザID（KJ… または C…）とそのパスワードを確かめてください。",
                detail_en=f"user {user_id!r}: unknown user or wrong password",
                fix_en="Check the user ID (KJ… or C…) and its password.",
            )
        return CheckedUser(row=found, attempt=attempt)

    async def _take_back(self, attempt: Attempt) -> None:
        async with self.db.transaction() as tx:
            await attempt.succeeded(tx)

    async def revoke_sessions(self, tx: Transaction, user_id: str) -> None:
        """End every session of `user_id`, API and usage website (after a password change)."""
        await tx.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
        await tx.execute("DELETE FROM web_sessions WHERE user_id = ?", (user_id,))
        await self.session_cache.revoking(tx)  # rule 4

    async def session(self, peer: OfficeIdentity, token: str, operation: Operation) -> Session:
        """The session of `token`, used with the certificate it was opened with."""
        now, token_hash = self.clock.now(), _token_hash(token)
        session = self.session_cache.get(token_hash, now)
        if session is None:
            generation = self.session_cache.generation()  # before the read (rule 4)
            row = await lookup_one(self.db, "SELECT * FROM sessions WHERE token_hash = ?", (token_hash,))
            if row is not None:
                session = Session(
                    user_id=row["user_id"],
                    office_number=row["office_number"],
                    cert_fingerprint=row["cert_fingerprint"],
                    expires_at=dt.datetime.fromisoformat(row["expires_at"]),
                )
                self.session_cache.put(token_hash, session, generation, now)
        if session is None or session.expires_at <= now:
            raise CareplanError(
                "SESSION_REQUIRED",
                detail="このトークンのセッションがないか、期限が切れています",
                fix="ログインし直してください（careplan client login）。",
                detail_en="no session for this token, or it has expired",
                fix_en="Log in again (careplan client login).",
            )
        if session.cert_fingerprint != peer.fingerprint:
            raise CareplanError(
                "CERT_OFFICE_MISMATCH",
                operation=operation,
                detail=f"このセッションは、いま使われている事業所 {peer.office_number} の証明書"
                f"（シリアル {peer.serial:x}）とは別の証明書で開かれました",
                fix="セッションは、それを開いた端末と証明書からだけ使ってください。",
                detail_en=f"the session was opened with another certificate than office "
                f"{peer.office_number}'s certificate (serial {peer.serial:x}) used now",
                fix_en="Use the session only from the terminal and certificate that opened it.",
            )
        return session

    async def logout(self, token: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))
            await self.session_cache.revoking(tx)  # rule 4
