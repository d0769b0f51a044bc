"""The usage-status website's operations (利用状況Webサイト, R1.2, R1.3, R3.4, R3.5, R3.8).

Rules this module keeps:
1. Only the KJ office user logs in here. A temporary or expired password opens a session that can
   do one thing: change the password (R1.2).
2. Failed logins are counted per user ID and per address on the hub's clock; five for a user ID
   (twenty for an address, which offices behind one NAT share) within fifteen minutes close the
   door for the rest of that window (LOGIN_THROTTLED).
3. Applying (利用申請) and renewing (更新) go through `careplan.licence`; the first application issues
   the office's personal user (C…) with an initial password, sealed with the hub key and shown on
   the top page until the user changes it (R1.3). Passwords themselves are stored only as scrypt.
4. The public directory lists an office from `licence.listed_from` on the hub's clock (R3.8).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from careplan import licence as lic
from careplan.errors import CareplanError, Operation
from careplan.office import PREFECTURES, is_office_number, is_office_user_id
from hub.passwords import hash_password, new_password, verify_password
from hub.service import HubService

MAX_FAILURES = 5  # per user ID
MAX_FAILURES_PER_ADDRESS = 20  # per address: offices behind one NAT must not lock each other out
FAILURE_WINDOW = dt.timedelta(minutes=15)
WEB_SESSION_HOURS = 2
CORRECTABLE_FIELDS = {"name": "事業所名", "address": "所在地", "service_kind": "サービス種類"}


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSession:
    user_id: str
    office_number: str
    must_change_password: bool


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def password_problem(current: str, new: str, confirm: str) -> str | None:
    """Why `new` is not acceptable, or None (8+ characters, letters and digits, changed, confirmed)."""
    if new != confirm:
        return "the two new passwords differ"
    if len(new) < 8 or not any(c.isascii() and c.isalpha() for c in new) or not any(c.isdigit() for c in new):
        return "the new password needs at least 8 characters with letters and digits"
    if new == current:
        return "the new password must differ from the current one"
    return None


class UsageSite:
    def __init__(self, service: HubService) -> None:
        self.service = service
        self.db = service.db

    def _now(self) -> dt.datetime:
        return self.service.clock.now()

    # --- login ----------------------------------------------------------------------------------
    async def _throttled(self, keys: list[str]) -> bool:
        since = (self._now() - FAILURE_WINDOW).isoformat()
        for key in keys:
            limit = MAX_FAILURES_PER_ADDRESS if key.startswith("addr:") else MAX_FAILURES
            row = await self.db.fetch_one("SELECT count(*) FROM login_failures WHERE key = ? AND at > ?", (key, since))
            if row is not None and row[0] >= limit:
                return True
        return False

    async def login(self, user_id: str, password: str, *, remote: str) -> tuple[str, bool]:
        """A web session token and whether the password must be changed first."""
        keys = [f"user:{user_id}", f"addr:{remote}"]
        if await self._throttled(keys):
            raise CareplanError(
                "LOGIN_THROTTLED",
                detail=f"{MAX_FAILURES} failed logins within {FAILURE_WINDOW}",
                fix="Wait 15 minutes, then log in with the right password.",
            )
        user = await self.db.fetch_one("SELECT * FROM users WHERE user_id = ?", (user_id,))
        if user is None or not is_office_user_id(user_id) or not verify_password(password, user["password_hash"]):
            async with self.db.transaction() as tx:
                for key in keys:
                    await tx.execute(
                        "INSERT INTO login_failures (key, at) VALUES (?, ?)", (key, self._now().isoformat())
                    )
            raise CareplanError(
                "LOGIN_FAILED",
                detail=f"user {user_id!r}: unknown KJ office user or wrong password",
                fix="Log in with the office's KJ user ID (事業所ユーザID) and its password.",
            )
        token = secrets.token_urlsafe(32)
        must_change = user["password_state"] != "ok"
        now = self._now()
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    _hash(token),
                    user_id,
                    user["office_number"],
                    "",
                    int(must_change),
                    now.isoformat(),
                    (now + dt.timedelta(hours=WEB_SESSION_HOURS)).isoformat(),
                ),
            )
        return token, must_change

    async def session(self, token: str | None) -> WebSession | None:
        if not token:
            return None
        row = await self.db.fetch_one("SELECT * FROM web_sessions WHERE token_hash = ?", (_hash(token),))
        if row is None or dt.datetime.fromisoformat(row["expires_at"]) <= self._now():
            return None
        return WebSession(
            user_id=row["user_id"],
            office_number=row["office_number"],
            must_change_password=bool(row["must_change_password"]),
        )

    async def logout(self, token: str | None) -> None:
        if token:
            async with self.db.transaction() as tx:
                await tx.execute("DELETE FROM web_sessions WHERE token_hash = ?", (_hash(token),))

    async def change_password(self, token: str, ws: WebSession, current: str, new: str, confirm: str) -> None:
        user = await self.db.fetch_one("SELECT password_hash FROM users WHERE user_id = ?", (ws.user_id,))
        if user is None or not verify_password(current, user["password_hash"]):
            raise CareplanError(
                "LOGIN_FAILED",
                operation=Operation.LOGIN,
                detail="the current password is wrong",
                fix="Type the password you logged in with as the current password.",
            )
        problem = password_problem(current, new, confirm)
        if problem:
            raise CareplanError("PASSWORD_RULE", detail=problem, fix="8+ characters, letters and digits, twice alike.")
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE users SET password_hash = ?, password_state = 'ok' WHERE user_id = ?",
                (hash_password(new), ws.user_id),
            )
            await tx.execute("UPDATE web_sessions SET must_change_password = 0 WHERE token_hash = ?", (_hash(token),))

    # --- the office's pages -------------------------------------------------------------------------
    async def top(self, ws: WebSession) -> dict[str, object]:
        rows = await self.db.fetch_all(
            "SELECT user_id, initial_password FROM users "
            "WHERE office_number = ? AND user_id LIKE 'C%' ORDER BY user_id",
            (ws.office_number,),
        )
        users = []
        for row in rows:
            shown = "（登録済み）"
            if row["initial_password"] is not None:
                shown = self.service.payloads.unseal(
                    row["initial_password"], context=f"initial-password:{row[0]}"
                ).decode()
            users.append({"user_id": row["user_id"], "password": shown})
        return {"office": await self.service.office(ws.office_number), "personal_users": users}

    async def apply(self, ws: WebSession, payment: str) -> dict[str, object]:
        try:
            method = lic.Payment(payment)
        except ValueError:
            raise CareplanError("BAD_REQUEST", detail=f"payment {payment!r} is not deduction or invoice") from None
        updated = lic.apply(await self._licence(ws), on=self.service.today(), payment=method)
        await self.service.save_licence(updated)
        await self._issue_personal_user(ws.office_number)
        return lic.summary(updated, self.service.today())

    async def renew(self, ws: WebSession) -> dict[str, object]:
        updated = lic.renew(await self._licence(ws), on=self.service.today())
        await self.service.save_licence(updated)
        return lic.summary(updated, self.service.today())

    async def licence_summary(self, ws: WebSession) -> dict[str, object]:
        licence = await self._licence(ws)
        today = self.service.today()
        summary = lic.summary(licence, today)
        summary["renewable"] = _renewable(licence, today)
        return summary

    async def _licence(self, ws: WebSession) -> lic.Licence:
        licence = await self.service.licence(ws.office_number)
        assert licence is not None, "a web session always belongs to a registered office"
        return licence

    async def _issue_personal_user(self, office_number: str) -> None:
        existing = await self.db.fetch_one(
            "SELECT count(*) FROM users WHERE office_number = ? AND user_id LIKE 'C%'", (office_number,)
        )
        if existing is not None and existing[0]:
            return
        user_id, password = f"C{office_number}01", new_password()
        sealed = self.service.payloads.seal(password.encode(), context=f"initial-password:{user_id}")
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO users (user_id, office_number, password_hash, password_state, created_at, "
                "initial_password) VALUES (?, ?, ?, 'ok', ?, ?)",
                (user_id, office_number, hash_password(password), self._now().isoformat(), sealed),
            )

    # --- the public directory (WAM NET) -----------------------------------------------------------
    async def directory(self, *, q: str = "", prefecture: str = "", service_kind: str = "") -> list[dict[str, str]]:
        today = self.service.today()
        rows = await self.db.fetch_all("SELECT * FROM offices ORDER BY office_number")
        found = []
        for row in rows:
            licence = await self.service.licence(row["office_number"])
            listed = lic.listed_from(licence) if licence else None
            if listed is None or listed > today:
                continue
            if q and q not in row["office_number"] and q not in row["name"]:
                continue
            if (prefecture and row["prefecture"] != prefecture) or (
                service_kind and row["service_kind"] != service_kind
            ):
                continue
            found.append(
                {
                    "office_number": row["office_number"],
                    "name": row["name"],
                    "address": row["address"],
                    "prefecture": PREFECTURES.get(row["prefecture"], row["prefecture"]),
                    "service_kind": row["service_kind"],
                    "listed_from": listed.isoformat(),
                }
            )
        return found

    async def request_correction(self, *, office_number: str, field: str, value: str, contact: str) -> None:
        problems = []
        if not is_office_number(office_number):
            problems.append(f"{office_number!r} is not a 事業所番号")
        if field not in CORRECTABLE_FIELDS:
            problems.append(f"field must be one of {', '.join(CORRECTABLE_FIELDS)}")
        if not value.strip() or not contact.strip():
            problems.append("the corrected value and a contact are required")
        if problems:
            raise CareplanError("BAD_REQUEST", detail="; ".join(problems), fix="Fill in every field of the form.")
        cap = self.service.config.corrections_per_day  # all addresses; per address: hub.limits
        since = (self._now() - dt.timedelta(days=1)).isoformat()
        async with self.db.transaction() as tx:
            row = await tx.fetch_one("SELECT count(*) FROM directory_corrections WHERE received_at > ?", (since,))
            if row is not None and row[0] >= cap:
                raise CareplanError(
                    "CORRECTION_LIMIT",
                    detail=f"直近 24 時間の修正依頼が上限の {cap} 件に達しています。",
                    detail_en=f"{cap} correction requests were received in the last 24 hours",
                    fix="翌日以降に再度依頼してください。",
                    fix_en="Ask again on a later day.",
                )
            await tx.execute(
                "INSERT INTO directory_corrections (office_number, field, value, contact, received_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (office_number, field, value.strip(), contact.strip(), self._now().isoformat()),
            )


def _renewable(licence: lic.Licence, today: dt.date) -> bool:
    try:
        lic.renew(licence, on=today)
    except (CareplanError, ValueError):
        return False
    return True
