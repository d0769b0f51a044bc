"""Sessions of the API, and the password check both login paths share (API and usage website).

Rules this module keeps:
1. No password oracle. A user of another office than the certificate's is refused with
   CERT_OFFICE_MISMATCH before any password is looked at; an unknown user (or one the caller does
   not admit) and a wrong password answer LOGIN_FAILED alike, after one scrypt each (a dummy hash
   stands in for a missing one). PASSWORD_EXPIRED comes only after the right password.
2. Every password check goes through the login throttle (`hub.throttle`), counted per user and
   source (certificate or address); the attempt is closed in the transaction that opens the session.
3. A session is bound to the certificate that opened it, expires on the hub's clock, and ends with
   logout or with any password change of its user (`revoke_sessions`, web sessions included).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from careplan.certificates import OfficeIdentity
from careplan.errors import CareplanError, Operation
from hub.clock import Clock
from hub.config import HubConfig
from hub.db import Database, Transaction
from hub.passwords import PasswordHasher
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
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Logging in, finding and ending sessions; HubService builds on this class."""

    config: HubConfig
    db: Database
    clock: Clock
    hasher: PasswordHasher
    throttle: LoginThrottle
    whoami: Callable[[Session], Awaitable[dict[str, object]]]  # HubService's (office and licence)

    async def login(self, peer: OfficeIdentity, user_id: str, password: str) -> dict[str, object]:
        """Open a session bound to the peer's certificate.

        Order (no password oracle): a user of another office is refused (CERT_OFFICE_MISMATCH)
        before any password is looked at; then the throttle (LOGIN_THROTTLED); then the password,
        where an unknown user and a wrong password answer alike (LOGIN_FAILED) after the same work.
        """
        user = await self.db.fetch_one("SELECT * FROM users WHERE user_id = ?", (user_id,))
        if user is not None and user["office_number"] != peer.office_number:
            raise CareplanError(
                "CERT_OFFICE_MISMATCH",
                operation=Operation.LOGIN,
                detail=f"user {user_id} belongs to office {user['office_number']}, but the terminal's "
                f"certificate is office {peer.office_number}'s ({peer.office_user_id})",
                fix=f"Install office {user['office_number']}'s certificate on this terminal, or log in "
                f"with a user of office {peer.office_number}.",
            )
        user = await self.check_password(
            user_id, password, source=certificate_source(peer.fingerprint), found=user, operation=Operation.LOGIN
        )
        if user.row["password_state"] != "ok":
            await self._take_back(user.attempt)  # the password was right: not a failure
            raise CareplanError(
                "PASSWORD_EXPIRED",
                detail=f"the password of {user_id} is {user.row['password_state']}",
                fix="Change the password on the usage website, then log in again.",
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

    async def session(self, peer: OfficeIdentity, token: str, operation: Operation) -> Session:
        """The session of `token`, used with the certificate it was opened with."""
        row = await self.db.fetch_one("SELECT * FROM sessions WHERE token_hash = ?", (_token_hash(token),))
        if row is None or dt.datetime.fromisoformat(row["expires_at"]) <= self.clock.now():
            raise CareplanError(
                "SESSION_REQUIRED",
                detail="no session for this token, or it has expired",
                fix="Log in again (careplan client login).",
            )
        if row["cert_fingerprint"] != peer.fingerprint:
            raise CareplanError(
                "CERT_OFFICE_MISMATCH",
                operation=operation,
                detail=f"the session was opened with another certificate than office "
                f"{peer.office_number}'s certificate (serial {peer.serial:x}) used now",
                fix="Use the session only from the terminal and certificate that opened it.",
            )
        return Session(
            user_id=row["user_id"],
            office_number=row["office_number"],
            cert_fingerprint=row["cert_fingerprint"],
            expires_at=dt.datetime.fromisoformat(row["expires_at"]),
        )

    async def logout(self, token: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))
