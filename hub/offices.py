"""Offices and their licences, as the hub keeps them (R1.4: one licence per 事業所番号).

The office rows hold the licence as `careplan.licence` JSON; every date rule counts in calendar
days in Japan on the hub's clock (`today`). HubService builds on this class.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sqlite3
from collections.abc import Mapping, Sequence

from careplan import licence as lic
from careplan.errors import CareplanError, Operation
from careplan.office import is_office_number, is_office_user_id, is_personal_user_id
from hub.clock import Clock
from hub.passwords import hash_password
from hub.storage import IntegrityError, lookup_one
from hub.storage import Storage as Database

JST = dt.timezone(dt.timedelta(hours=9), "JST")

# Starting licence states for seeds, scenarios and the admin API (see register_office).
STARTING_LICENCES = {
    "none": lambda licence, today: licence,
    "applied": lambda licence, today: lic.apply(licence, on=today),
    "valid": lambda licence, today: lic.apply(licence, on=_months_before(today, 4)),
}


@functools.lru_cache(maxsize=1024)
def licence_of(office_number: str, licence_json: str | None) -> lic.Licence:
    """The stored licence; an office registered without one has a new (unapplied) licence.
    Memoized by the stored text (a Licence is frozen, parsing is pure): every submit reads two
    licences and every list one, and json.loads + from_json was ~2% of a cycle's Python CPU."""
    return lic.Licence.from_json(json.loads(licence_json)) if licence_json else lic.new_licence(office_number)


# A licence's judgements on a day are pure (careplan.licence), and the hub asks them for the same
# offices and day again and again: a submit whether its two offices may send and receive (~8 µs a
# question, ~1.6% of a submit's Python CPU), every list the state (~1% of a cycle's). Keyed by the
# frozen Licence and the day, so a changed licence (new text, a new Licence) or another day on the
# hub's clock is judged afresh.
licence_state = functools.lru_cache(maxsize=1024)(lic.state)
_may_send = functools.lru_cache(maxsize=1024)(lic.may_send)
_may_receive = functools.lru_cache(maxsize=1024)(lic.may_receive)


def judge_send_licences(
    sender_number: str, recipient_number: str, offices: Mapping[str, sqlite3.Row], today: dt.date
) -> dict[str, str]:
    """The names of the sender and the recipient (`offices`: their rows, as a submit reads them),
    once both licences allow this send; the refusals in the order of hub.service rule 1."""

    def licence(number: str) -> lic.Licence | None:
        row = offices.get(number)
        return None if row is None else licence_of(number, row["licence_json"])

    sender = licence(sender_number)
    if sender is None or not _may_send(sender, today):
        state = lic.state(sender, today).value if sender else "未登録"
        raise CareplanError(
            "SENDER_NOT_APPLIED",
            detail=f"事業所 {sender_number}（{state}）は利用申請が完了していないか、ライセンスが有効ではありません",
            fix="利用状況Webサイトで利用申請（または更新）を行ってから、もう一度送信してください。",
            detail_en=f"office {sender_number} ({state}) has not completed its 利用申請 or its licence is not in force",
            fix_en="Apply (利用申請) or renew (更新) on the usage website, then send again.",
        )
    if recipient_number == sender_number:
        raise CareplanError(
            "SAME_OFFICE",
            detail=f"送信元も送信先も {sender_number} です",
            detail_en=f"sender and recipient are both {sender_number}",
        )
    recipient = licence(recipient_number)
    if recipient is None or not _may_receive(recipient, today):
        state = "is not registered" if recipient is None else f"is {lic.state(recipient, today).value}"
        raise CareplanError(
            "RECIPIENT_NOT_LICENSED",
            detail=f"送信先 {recipient_number} は"
            f"{'登録されていません' if recipient is None else lic.state(recipient, today).value + 'です'}",
            fix="送信先事業所に利用申請（または更新）を依頼してから、もう一度送信してください。",
            detail_en=f"recipient {recipient_number} {state}",
            fix_en="Ask the recipient office to apply (利用申請) or renew, then send again.",
        )
    return {number: row["name"] for number, row in offices.items()}


def _months_before(day: dt.date, months: int) -> dt.date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    return dt.date(year, (month - 1) % 12 + 1, 1)


class Offices:
    """Registering offices, reading them with their licence summary, storing licences."""

    db: Database
    clock: Clock

    def _now(self) -> str:
        return self.clock.now().isoformat()

    async def register_office(
        self,
        *,
        office_number: str,
        name: str,
        service_kind: str,
        office_user_id: str,
        password: str,
        licence: str = "valid",
        password_state: str = "ok",
        personal_users: Sequence[tuple[str, str]] = (),
        prefecture: str = "",
        address: str = "",
    ) -> dict[str, object]:
        """Register an office with its KJ office user and personal (C…) users (seed/admin).

        `licence` sets the starting state for seeds and scenarios: "none" (未申請), "applied"
        (申請済 today) or "valid" (有効: applied long enough ago that the deduction is done).
        """
        problems = []
        if not is_office_number(office_number):
            problems.append(f"office_number {office_number!r} is not a 事業所番号")
        if not is_office_user_id(office_user_id):
            problems.append(f"office_user_id {office_user_id!r} must begin with KJ")
        problems += [
            f"personal user {uid!r} must begin with C" for uid, _ in personal_users if not is_personal_user_id(uid)
        ]
        if licence not in STARTING_LICENCES:
            problems.append(f"licence must be one of {', '.join(STARTING_LICENCES)}")
        if password_state not in ("ok", "temporary", "expired"):
            problems.append("password_state must be ok, temporary or expired")
        if problems:
            raise CareplanError(
                "BAD_REQUEST",
                operation=Operation.ADMIN,
                detail="登録内容の誤り: " + "; ".join(problems),
                detail_en="; ".join(problems),
            )
        start = STARTING_LICENCES[licence](lic.new_licence(office_number), self.today())
        now = self._now()
        try:
            async with self.db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO offices (office_number, name, service_kind, office_user_id, created_at, "
                    "licence_json, prefecture, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        office_number,
                        name,
                        service_kind,
                        office_user_id,
                        now,
                        json.dumps(start.to_json()),
                        prefecture or office_number[:2],
                        address,
                    ),
                )
                users = [(office_user_id, password, password_state), *((u, p, "ok") for u, p in personal_users)]
                for user_id, secret, state in users:
                    await tx.execute(
                        "INSERT INTO users (user_id, office_number, password_hash, password_state, created_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (user_id, office_number, hash_password(secret), state, now),
                    )
        except IntegrityError as exc:
            raise CareplanError(
                "OFFICE_EXISTS",
                detail=f"{office_number} / {office_user_id} は登録済みです",
                detail_en=f"{office_number} / {office_user_id}: {exc}",
            ) from None
        return await self.office(office_number)

    def today(self) -> dt.date:
        """The calendar day in Japan on the hub's clock: every licence date rule counts in it."""
        return self.clock.now().astimezone(JST).date()

    async def licence(self, office_number: str) -> lic.Licence | None:
        row = await lookup_one(self.db, "SELECT licence_json FROM offices WHERE office_number = ?", (office_number,))
        return None if row is None else licence_of(office_number, row[0])

    async def save_licence(self, licence: lic.Licence) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE offices SET licence_json = ? WHERE office_number = ?",
                (json.dumps(licence.to_json()), licence.office_number),
            )

    async def office(self, office_number: str) -> dict[str, object]:
        """The office as the API shows it, with its licence summary on the hub's clock."""
        row = await lookup_one(self.db, "SELECT * FROM offices WHERE office_number = ?", (office_number,))
        if row is None:
            raise CareplanError(
                "OFFICE_NOT_FOUND",
                operation=Operation.ADMIN,
                detail=f"事業所 {office_number} は登録されていません",
                detail_en=f"no office {office_number}",
            )
        return self._office_json(row)

    async def change_licence(self, office_number: str, action: str, payment: str | None = None) -> dict[str, object]:
        """Apply `action` (apply, renew, cancel, pay_invoice) to the office's licence on the hub's today
        (admin, scenarios against a running hub); the licence summary afterwards. Licence rules refuse
        with their own CareplanErrors."""
        changes = {
            "apply": lic.apply,
            "renew": lic.renew,
            "cancel": lic.cancel,
            "pay_invoice": lic.record_invoice_payment,
        }
        if action not in changes:
            raise CareplanError(
                "BAD_REQUEST",
                operation=Operation.ADMIN,
                detail=f"action は {', '.join(changes)} のいずれかです",
                detail_en=f"action must be one of {', '.join(changes)}",
            )
        method: lic.Payment | None = None
        if payment is not None:
            if action not in ("apply", "renew"):
                raise CareplanError(
                    "BAD_REQUEST",
                    operation=Operation.ADMIN,
                    detail=f"{action} には payment を指定しません",
                    detail_en=f"{action} takes no payment",
                )
            try:
                method = lic.Payment(payment)
            except ValueError:
                raise CareplanError(
                    "BAD_REQUEST",
                    operation=Operation.ADMIN,
                    detail=f"payment {payment!r} は deduction（差引）でも invoice（請求書）でもありません",
                    detail_en=f"payment {payment!r} is not deduction or invoice",
                ) from None
        current = await self.licence(office_number)
        if current is None:
            raise CareplanError(
                "OFFICE_NOT_FOUND",
                operation=Operation.ADMIN,
                detail=f"事業所 {office_number} は登録されていません",
                detail_en=f"no office {office_number}",
            )
        today = self.today()
        kwargs = {"payment": method} if method is not None else {}
        updated = changes[action](current, on=today, **kwargs)  # type: ignore[operator]
        await self.save_licence(updated)
        return lic.summary(updated, today)

    async def offices(self) -> list[dict[str, object]]:
        rows = await self.db.fetch_all("SELECT * FROM offices ORDER BY office_number")
        return [self._office_json(r) for r in rows]

    def _office_json(self, row: sqlite3.Row) -> dict[str, object]:
        licence = licence_of(row["office_number"], row["licence_json"])
        return {
            "office_number": row["office_number"],
            "name": row["name"],
            "service_kind": row["service_kind"],
            "office_user_id": row["office_user_id"],
            "prefecture": row["prefecture"],
            "licence": lic.summary(licence, self.today()),
        }
