"""The usage-status website's operations (利用状況Webサイト, R1.2, R1.3, R3.4, R3.5, R3.8).

Rules this module keeps:
1. Only the KJ office user logs in here. A temporary or expired password opens a session that can
   do one thing: change the password (R1.2).
2. Logins go through the same password check and throttle as the API's (`HubService.check_password`,
   `hub.throttle`), the client address being the source; a user that is not a KJ office user
   answers exactly like an unknown one.
3. Applying (利用申請) and renewing (更新) go through `careplan.licence`; the first application issues
   the office's personal user (C…) with an initial password, sealed with the hub key and shown on
   the top page until the user changes it (R1.3). Passwords themselves are stored only as scrypt,
   hashed off the event loop (`hub.passwords.PasswordHasher`).
4. The public directory lists an office from `licence.listed_from` on the hub's clock (R3.8).
5. A password change ends every session of the user, web and API, and gives the session that
   changed it a new token; a new password must pass `hub.passwords.policy_problems`, and the
   current one is checked through the login throttle (a stolen session is no guessing oracle).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

from careplan import licence as lic
from careplan.errors import CareplanError, Operation
from careplan.office import PREFECTURES, is_office_number, is_office_user_id
from hub import tokens
from hub.passwords import Problem, new_password, policy_problems
from hub.service import HubService
from hub.storage import StorageTransaction as Transaction
from hub.throttle import address_source

WEB_SESSION_HOURS = 2
CORRECTABLE_FIELDS = {"name": "事業所名", "address": "所在地", "service_kind": "サービス種類"}


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSession:
    user_id: str
    office_number: str
    must_change_password: bool


def _hash(token: str) -> str:
    return tokens.digest(token)


def password_problem(user_id: str, current: str, new: str, confirm: str) -> CareplanError | None:
    """Why `new` is not acceptable as the new password of `user_id` (PASSWORD_RULE), or None."""
    problems = policy_problems(new, user_id=user_id)
    if new != confirm:
        problems.insert(0, Problem(ja="確認用のパスワードが一致しません", en="the two new passwords differ"))
    if new == current:
        problems.append(
            Problem(ja="現在のパスワードと異なるものにしてください", en="it must differ from the current one")
        )
    if not problems:
        return None
    return CareplanError(
        "PASSWORD_RULE",
        detail="、".join(p.ja for p in problems),
        fix="10文字以上で英大文字・英小文字・数字・記号のうち3種類以上を含み、ユーザIDやよく使われる語を含まない"
        "パスワードを、確認欄にも同じく入力してください。",
        detail_en="; ".join(p.en for p in problems),
        fix_en="10+ characters mixing three of upper case, lower case, digits and symbols, without the user ID "
        "or a common word, typed twice alike.",
    )


class UsageSite:
    def __init__(self, service: HubService) -> None:
        self.service = service
        self.db = service.db
        self._csrf_key: bytes | None = None

    def _now(self) -> dt.datetime:
        return self.service.clock.now()

    # --- login ----------------------------------------------------------------------------------
    async def login(self, user_id: str, password: str, *, remote: str | None) -> tuple[str, bool]:
        """A web session token and whether the password must be changed first. Only KJ office
        users log in here (rule 1); any other user ID answers like an unknown one."""
        user = await self.db.fetch_one("SELECT * FROM users WHERE user_id = ?", (user_id,))
        checked = await self.service.check_password(
            user_id,
            password,
            source=address_source(remote),
            found=user,
            operation=Operation.LOGIN,
            admit=lambda row: is_office_user_id(row["user_id"]),
        )
        must_change = checked.row["password_state"] != "ok"
        async with self.db.transaction() as tx:
            await checked.attempt.succeeded(tx)
            token = await self._open_session(tx, user_id, checked.row["office_number"], must_change=must_change)
        return token, must_change

    async def _open_session(self, tx: Transaction, user_id: str, office_number: str, *, must_change: bool) -> str:
        token = secrets.token_urlsafe(32)
        now = self._now()
        await tx.execute(
            "INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                _hash(token),
                user_id,
                office_number,
                "",  # unused: CSRF tokens are derived from the session cookie (csrf_token)
                int(must_change),
                now.isoformat(),
                (now + dt.timedelta(hours=WEB_SESSION_HOURS)).isoformat(),
            ),
        )
        return token

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

    async def change_password(self, ws: WebSession, current: str, new: str, confirm: str, *, remote: str | None) -> str:
        """Set the new password, end every session of the user (web and API) and return the token
        of a fresh web session for the browser that changed it."""
        problem = password_problem(ws.user_id, current, new, confirm)
        if problem:
            raise problem
        user = await self.db.fetch_one("SELECT * FROM users WHERE user_id = ?", (ws.user_id,))
        checked = await self.service.check_password(
            ws.user_id, current, source=address_source(remote), found=user, operation=Operation.LOGIN
        )
        new_hash = await self.service.hasher.hash(new)
        async with self.db.transaction() as tx:
            await checked.attempt.succeeded(tx)
            await tx.execute(
                "UPDATE users SET password_hash = ?, password_state = 'ok' WHERE user_id = ?", (new_hash, ws.user_id)
            )
            await self.service.revoke_sessions(tx, ws.user_id)
            return await self._open_session(tx, ws.user_id, ws.office_number, must_change=False)

    async def csrf_token(self, binding: str) -> str:
        """The CSRF token of a form for the browser holding `binding` (its session or pre-session
        cookie): an HMAC under the hub's key, so a token is good only with that cookie."""
        if self._csrf_key is None:
            row = await self.db.fetch_one("SELECT value FROM hub_secrets WHERE name = 'csrf'")
            assert row is not None, "schema version 3 creates the key"
            self._csrf_key = bytes(row["value"])
        return hmac.new(self._csrf_key, binding.encode(), hashlib.sha256).hexdigest()

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
            raise CareplanError(
                "BAD_REQUEST",
                detail=f"支払方法 {payment!r} は deduction（差引）でも invoice（請求書）でもありません",
                detail_en=f"payment {payment!r} is not deduction or invoice",
            ) from None
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
        password_hash = await self.service.hasher.hash(password)
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO users (user_id, office_number, password_hash, password_state, created_at, "
                "initial_password) VALUES (?, ?, ?, 'ok', ?, ?)",
                (user_id, office_number, password_hash, self._now().isoformat(), sealed),
            )

    # --- the public directory (WAM NET) -----------------------------------------------------------
    async def directory(self, *, q: str = "", prefecture: str = "", service_kind: str = "") -> list[dict[str, str]]:
        """Listed offices whose 事業所番号 or name holds every word of `q`, compared in NFKC: an IME's
        full-width digits (１３７０…), half-width kana or a space between words still find them."""
        words = unicodedata.normalize("NFKC", q).split()
        today = self.service.today()
        rows = await self.db.fetch_all("SELECT * FROM offices ORDER BY office_number")
        found = []
        for row in rows:
            licence = await self.service.licence(row["office_number"])
            listed = lic.listed_from(licence) if licence else None
            if listed is None or listed > today:
                continue
            searched = unicodedata.normalize("NFKC", f"{row['office_number']} {row['name']}")
            if not all(word in searched for word in words):
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
            raise CareplanError(
                "BAD_REQUEST",
                detail="入力の誤り: " + "; ".join(problems),
                fix="フォームのすべての項目を入力してください。",
                detail_en="; ".join(problems),
                fix_en="Fill in every field of the form.",
            )
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
