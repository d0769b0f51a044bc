"""The licence (ライセンス) of one office: application, payment, period, renewal (R3).

Rules this module keeps:
1. Pure: every function is told the day it is about (`today`, `on`); nothing reads a clock. A
   `Licence` records only what the office did (applications, renewals, invoice payments); every
   state and date is derived from those, so the JSON the hub stores is the whole truth.
2. One licence per 事業所番号, shared by all the services under it [FAQ 全般-3, 運用-8; R1.4].
3. Fee 1,750円 a month, 21,000円 a year, paid yearly in one sum: deducted from the office's
   介護給付費, or by invoice from the 国保連合会 [FAQ 全般-1, 全般-2; R3.1].
4. 請求月: an application on the 1st–15th is charged on that month's claim, from the 16th on the
   next month's claim [FAQ 全般-2; R3.2]. The deduction completes when that claim's 介護報酬 is
   paid, in the month after the claim month, on PAYMENT_DAY. An invoice counts as paid on the day
   `record_invoice_payment` records.
5. The period is PERIOD_MONTHS months from the 1st of the claim month (see PERIOD_MONTHS for why),
   valid through its last day and 期限切れ the day after.
6. From the application on, the office may send and receive: 「利用申請が正常に完了しております。」 is
   the condition [FAQ 導入-10, 操作-1, 操作-8; R3.5, R3.6]. A recipient in 申請済 counts as holding
   「有効なライセンス」 [FAQ 操作-12; R3.7]: its licence is in force, only the expiry display waits.
7. The expiry shows 「-」 until the payment of the term in force has completed, then its end
   [FAQ 操作-16; R3.4].
8. No cancellation within a period and no free trial [FAQ 全般-4, 全般-5; R3.3]; applying again
   while a licence is in force is refused.
9. Renewal (更新) opens RENEWAL_WINDOW_MONTHS before the period ends and stays open after expiry
   (then it is a new application). Applications and renewals from AUTO_RENEWAL_FROM renew
   automatically: the next term is applied for on the day the window opens, with its own deduction.
10. The office appears in the public (WAM NET) list about a month after applying [FAQ 全般-9; R3.8].

Which action each state allows is the table TRANSITIONS; the refusal for every other pair is
REFUSALS. Date-driven events (payment, next period, expiry) are in TRANSITIONS too, so a test can
check that the derived state only ever moves along its edges.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from careplan.errors import MSG_APPLICATION_DONE, CareplanError, Operation
from careplan.office import is_office_number

FEE_PER_MONTH = 1_750  # 円, 税込 [FAQ 全般-1]
FEE_PER_YEAR = 21_000  # 円, 税込, one sum a year [FAQ 全般-1]
CLAIM_CUTOFF_DAY = 15  # applications up to this day go on the same month's claim [FAQ 全般-2]
# The 国保連合会 pay a claim's 介護報酬 in the month after the claim, between about the 20th and
# the 25th depending on the prefecture. We take the end of that window so that no simulated period
# shows before any 国保連 could have paid it; a fixed day (no business-day calendar) keeps it
# predictable for scenarios.
PAYMENT_DAY = 25
# 12 months from the 1st of the claim month. The price is monthly (1,750円 × 12) with the usual
# mid-month cut-off: an application on the 1st–15th pays for its own month, one from the 16th
# starts paying next month. Starting the period at the claim month makes the 12 paid months the 12
# months of use (at most the second half of the application month runs ahead of the period, the
# customary cut-off, not a trial). Starting after the deduction would give up to 2½ unpaid months,
# against FAQ 全般-5; starting on the application day would end periods mid-month, which a
# month-based claim cannot charge.
PERIOD_MONTHS = 12
RENEWAL_WINDOW_MONTHS = 2  # 更新 opens this many months before the period ends
AUTO_RENEWAL_FROM = date(2025, 6, 1)  # the system renews automatically from this application day
LISTING_DELAY_MONTHS = 1  # WAM NET lists an office about a month after it applied [R3.8]


class LicenceState(StrEnum):
    """The licence as the usage website's ライセンス tab names it."""

    UNAPPLIED = "未申請"
    APPLIED = "申請済"  # in force; the payment has not completed, so the expiry shows 「-」
    VALID = "有効"  # in force and paid; the period is shown
    EXPIRED = "期限切れ"


class Payment(StrEnum):
    """How the yearly fee is paid [FAQ 全般-2]."""

    DEDUCTION = "介護給付費からの差引"  # the default
    INVOICE = "請求書"  # 請求書 from the 国保連合会, paid by bank transfer

    @classmethod
    def _missing_(cls, value: object) -> Payment | None:
        return _PAYMENT_ALIASES.get(str(value).lower())


_PAYMENT_ALIASES = {"deduction": Payment.DEDUCTION, "差引": Payment.DEDUCTION, "invoice": Payment.INVOICE}


class Event(StrEnum):
    """What moves a licence: the office's actions and the days that pass."""

    APPLY = "利用申請"
    RENEW = "更新"
    CANCEL = "解約"
    INVOICE_PAID = "請求書支払"
    DEDUCTED = "差引完了"  # date: PAYMENT_DAY of the month after the claim month
    AUTO_RENEWED = "自動更新"  # date: the renewal window opens on an auto-renewing licence
    PERIOD_STARTED = "次期間開始"  # date: a renewed period starts before its payment completed
    PERIOD_ENDED = "期間満了"  # date: the day after the last day of the period


ACTIONS = (Event.APPLY, Event.RENEW, Event.CANCEL, Event.INVOICE_PAID)

_S, _E = LicenceState, Event
TRANSITIONS: Mapping[LicenceState, Mapping[Event, LicenceState]] = MappingProxyType(
    {
        _S.UNAPPLIED: {_E.APPLY: _S.APPLIED},
        _S.APPLIED: {
            _E.RENEW: _S.APPLIED,
            _E.INVOICE_PAID: _S.VALID,
            _E.DEDUCTED: _S.VALID,
            _E.AUTO_RENEWED: _S.APPLIED,
            _E.PERIOD_ENDED: _S.EXPIRED,  # an invoice never paid
        },
        _S.VALID: {
            _E.RENEW: _S.VALID,
            _E.INVOICE_PAID: _S.VALID,  # a renewal's invoice, paid during the current period
            _E.DEDUCTED: _S.VALID,
            _E.AUTO_RENEWED: _S.VALID,
            _E.PERIOD_STARTED: _S.APPLIED,
            _E.PERIOD_ENDED: _S.EXPIRED,
        },
        _S.EXPIRED: {_E.APPLY: _S.APPLIED, _E.RENEW: _S.APPLIED},
    }
)
# The refusal for every action a state does not allow (no state allows CANCEL) [FAQ 全般-4].
REFUSALS: Mapping[LicenceState, Mapping[Event, str]] = MappingProxyType(
    {
        _S.UNAPPLIED: {
            _E.RENEW: "LICENCE_NOT_APPLIED",
            _E.CANCEL: "LICENCE_NOT_APPLIED",
            _E.INVOICE_PAID: "LICENCE_PAYMENT_NOT_DUE",
        },
        _S.APPLIED: {_E.APPLY: "LICENCE_ALREADY_APPLIED", _E.CANCEL: "LICENCE_NO_CANCELLATION"},
        _S.VALID: {_E.APPLY: "LICENCE_ALREADY_APPLIED", _E.CANCEL: "LICENCE_NO_CANCELLATION"},
        _S.EXPIRED: {_E.CANCEL: "LICENCE_NOT_APPLIED", _E.INVOICE_PAID: "LICENCE_PAYMENT_NOT_DUE"},
    }
)
# (ever applied, a term in force today, its payment completed) -> state
_STATE_BY_FACTS: Mapping[tuple[bool, bool, bool], LicenceState] = MappingProxyType(
    {
        (False, False, False): _S.UNAPPLIED,
        (True, False, False): _S.EXPIRED,
        (True, True, False): _S.APPLIED,
        (True, True, True): _S.VALID,
    }
)
IN_FORCE = frozenset({_S.APPLIED, _S.VALID})  # may send, may receive, counts as 有効 for R3.7
_FIXES: Mapping[str, str] = MappingProxyType(
    {
        "LICENCE_NOT_APPLIED": "Apply first (利用申請/更新 page of the usage website).",
        "LICENCE_NO_CANCELLATION": "The licence runs to the end of its period; it cannot be cancelled.",
        "LICENCE_ALREADY_APPLIED": "Nothing to do: the licence is in force (see summary()).",
        "LICENCE_RENEWAL_NOT_OPEN": f"Renew from {RENEWAL_WINDOW_MONTHS} months before the period ends.",
        "LICENCE_PAYMENT_NOT_DUE": "Only an unpaid invoice of a term in force can be paid.",
    }
)


# --- dates ----------------------------------------------------------------------------------------
def _add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the end of a shorter month (Jan 31 + 1 → Feb 28/29)."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def claim_month(applied_on: date) -> tuple[int, int]:
    """(year, month) of the claim the fee is deducted from: 1st–15th this month, else the next."""
    first = applied_on.replace(day=1)
    month = first if applied_on.day <= CLAIM_CUTOFF_DAY else _add_months(first, 1)
    return (month.year, month.month)


def _claim_start(applied_on: date) -> date:
    return date(*claim_month(applied_on), 1)


def deduction_date(applied_on: date) -> date:
    """The day the deduction completes: PAYMENT_DAY of the month after the claim month."""
    return _add_months(_claim_start(applied_on), 1).replace(day=PAYMENT_DAY)


# --- values ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Term:
    """One licence year: the application (or renewal) that bought it and how it was paid."""

    applied_on: date
    start: date  # always a 1st (rule 5)
    payment: Payment = Payment.DEDUCTION
    automatic: bool = False  # applied for by auto-renewal, not by the office
    invoice_paid_on: date | None = None

    def __post_init__(self) -> None:
        if self.start.day != 1:
            raise ValueError(f"a period starts on a 1st, not {self.start}")
        if self.invoice_paid_on is not None and self.payment is not Payment.INVOICE:
            raise ValueError("only an invoice is paid by record_invoice_payment")
        if self.invoice_paid_on is not None and self.invoice_paid_on < self.applied_on:
            raise ValueError("an invoice is paid after the application")

    @property
    def end(self) -> date:
        return _add_months(self.start, PERIOD_MONTHS) - timedelta(days=1)

    @property
    def in_force_from(self) -> date:
        return min(self.applied_on, self.start)

    @property
    def auto_renew(self) -> bool:
        return self.applied_on >= AUTO_RENEWAL_FROM

    @property
    def renewal_opens(self) -> date:
        return _add_months(self.end + timedelta(days=1), -RENEWAL_WINDOW_MONTHS)

    @property
    def paid_on(self) -> date | None:
        """The day the payment completes: the deduction day, or the recorded invoice payment."""
        if self.payment is Payment.DEDUCTION:
            return deduction_date(self.applied_on)
        return self.invoice_paid_on

    def paid_by(self, today: date) -> bool:
        return self.paid_on is not None and self.paid_on <= today

    def to_json(self) -> dict[str, object]:
        return {
            "applied_on": self.applied_on.isoformat(),
            "start": self.start.isoformat(),
            "payment": self.payment.value,
            "automatic": self.automatic,
            "invoice_paid_on": self.invoice_paid_on.isoformat() if self.invoice_paid_on else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Term:
        paid = data.get("invoice_paid_on")
        return cls(
            applied_on=date.fromisoformat(data["applied_on"]),
            start=date.fromisoformat(data["start"]),
            payment=Payment(data["payment"]),
            automatic=bool(data.get("automatic", False)),
            invoice_paid_on=date.fromisoformat(paid) if paid else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Licence:
    """The licence of one 事業所番号: its terms, oldest first. Build with `new_licence`."""

    office_number: str
    terms: tuple[Term, ...] = ()

    def __post_init__(self) -> None:
        if not is_office_number(self.office_number):
            raise ValueError(f"{self.office_number!r} is not a 事業所番号")
        for before, after in itertools.pairwise(self.terms):
            if after.start <= before.end or after.applied_on < before.applied_on:
                raise ValueError(f"terms overlap or are out of order: {before} then {after}")

    def to_json(self) -> dict[str, object]:
        return {"version": 1, "office_number": self.office_number, "terms": [t.to_json() for t in self.terms]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Licence:
        if data.get("version") != 1:
            raise ValueError(f"unknown licence version {data.get('version')!r}")
        return cls(office_number=data["office_number"], terms=tuple(Term.from_json(t) for t in data["terms"]))


# --- derived state --------------------------------------------------------------------------------
def _auto_renewal(term: Term) -> Term:
    return Term(
        applied_on=term.renewal_opens,
        start=term.end + timedelta(days=1),
        payment=term.payment,
        automatic=True,
    )


def _terms_until(licence: Licence, day: date) -> tuple[Term, ...]:
    """The terms applied for by `day`, automatic renewals included."""
    terms = [t for t in licence.terms if t.applied_on <= day]
    while terms and terms[-1].auto_renew and terms[-1].renewal_opens <= day:
        terms.append(_auto_renewal(terms[-1]))
    return tuple(terms)


def _current(terms: tuple[Term, ...], today: date) -> Term | None:
    """The term in force today: the latest started one, else one applied for ahead of its period."""
    covering = [t for t in terms if t.in_force_from <= today <= t.end]
    started = [t for t in covering if t.start <= today]
    return started[-1] if started else next(iter(covering), None)


def _shown(terms: tuple[Term, ...], today: date) -> Term | None:
    """The term the ライセンス tab shows: the one in force, else the last one (expired)."""
    return _current(terms, today) or next(reversed(terms), None)


def state(licence: Licence, today: date) -> LicenceState:
    terms = _terms_until(licence, today)
    current = _current(terms, today)
    facts = (bool(terms), current is not None, current is not None and current.paid_by(today))
    return _STATE_BY_FACTS[facts]


def may_send(licence: Licence, today: date) -> bool:
    """Whether the office's 利用申請 is complete, the condition for sending [R3.6]."""
    return state(licence, today) in IN_FORCE


def may_receive(licence: Licence, today: date) -> bool:
    """Whether the office may be sent to: it has applied and holds a licence in force [R3.7]."""
    return state(licence, today) in IN_FORCE


def period(licence: Licence, today: date) -> tuple[date, date] | None:
    """(first day, last day) of the shown term once its payment has completed, else None."""
    shown = _shown(_terms_until(licence, today), today)
    if shown is None or not shown.paid_by(today):
        return None
    return (shown.start, shown.end)


def expiry_display(licence: Licence, today: date) -> str:
    """ライセンス期限 as the tab and the client's top screen show it: 「-」 until paid [R3.4]."""
    shown = period(licence, today)
    return "-" if shown is None else shown[1].isoformat()


def listed_from(licence: Licence) -> date | None:
    """The day the office appears in the public list: a month after the application that opened
    its current run of terms (a lapse and a new application start a new run)."""
    openings = [
        after
        for before, after in itertools.pairwise((None, *licence.terms))
        if after is not None and (before is None or after.start != before.end + timedelta(days=1))
    ]
    return _add_months(openings[-1].applied_on, LISTING_DELAY_MONTHS) if openings else None


# --- actions --------------------------------------------------------------------------------------
def new_licence(office_number: str) -> Licence:
    """The licence of an office that has not applied (未申請)."""
    return Licence(office_number=office_number)


def _refuse(licence: Licence, code: str, detail: str) -> CareplanError:
    return CareplanError(code, operation=Operation.ADMIN, detail=f"{licence.office_number}: {detail}", fix=_FIXES[code])


def _check(licence: Licence, event: Event, on: date) -> LicenceState:
    """The state on `on`, if it allows `event`; raise the table's refusal otherwise."""
    recorded = [d for t in licence.terms for d in (t.applied_on, t.invoice_paid_on) if d is not None]
    if recorded and on < max(recorded):  # the hub's clock was moved back: a clean refusal, not a 500
        raise CareplanError(
            "CLOCK_BEFORE_RECORDED",
            operation=Operation.ADMIN,
            detail=f"{licence.office_number}: {event}（{on}）は最後に記録された出来事（{max(recorded)}）より前です",
            fix="ハブの時計を最新の記録以降の日時に進めてから、もう一度操作してください。",
            detail_en=f"{licence.office_number}: {event} on {on} is before the last recorded event ({max(recorded)})",
            fix_en="Move the hub's clock to or after the latest recorded event, then try again.",
        )
    now = state(licence, on)
    if event not in TRANSITIONS[now]:
        raise _refuse(licence, REFUSALS[now][event], f"{event} is refused while the licence is {now} on {on}")
    return now


def _with(licence: Licence, terms: tuple[Term, ...]) -> Licence:
    return replace(licence, terms=terms)


def apply(licence: Licence, *, on: date, payment: Payment = Payment.DEDUCTION) -> Licence:
    """利用申請 on `on`. Raises LICENCE_ALREADY_APPLIED while a licence is in force."""
    _check(licence, Event.APPLY, on)
    term = Term(applied_on=on, start=_claim_start(on), payment=Payment(payment))
    return _with(licence, (*_terms_until(licence, on), term))


def renew(licence: Licence, *, on: date, payment: Payment | None = None) -> Licence:
    """更新 for the next year, on the same payment unless another is given.

    From RENEWAL_WINDOW_MONTHS before the end, the next term follows on without a gap; after
    expiry it is a new application. Raises LICENCE_NOT_APPLIED (never applied),
    LICENCE_RENEWAL_NOT_OPEN (too early) or LICENCE_ALREADY_APPLIED (renewed already, or the
    licence renews automatically).
    """
    now = _check(licence, Event.RENEW, on)
    terms = _terms_until(licence, on)
    last = terms[-1]
    pay = Payment(payment) if payment is not None else last.payment
    if now is LicenceState.EXPIRED:
        return apply(licence, on=on, payment=pay)
    if last.auto_renew:
        raise _refuse(licence, "LICENCE_ALREADY_APPLIED", f"the licence renews automatically on {last.renewal_opens}")
    if last != _current(terms, on):
        raise _refuse(licence, "LICENCE_ALREADY_APPLIED", f"the term from {last.start} is already applied for")
    if on < last.renewal_opens:
        raise _refuse(licence, "LICENCE_RENEWAL_NOT_OPEN", f"renewal opens on {last.renewal_opens}")
    return _with(licence, (*terms, Term(applied_on=on, start=last.end + timedelta(days=1), payment=pay)))


def cancel(licence: Licence, *, on: date) -> Licence:
    """Always raises: no cancellation within a period [FAQ 全般-4] (LICENCE_NO_CANCELLATION),
    and nothing to cancel outside one (LICENCE_NOT_APPLIED). No state of TRANSITIONS allows it."""
    _check(licence, Event.CANCEL, on)
    raise AssertionError("TRANSITIONS allows a cancellation that this module does not implement")


def record_invoice_payment(licence: Licence, *, on: date) -> Licence:
    """The invoice of the earliest unpaid invoiced term in force (or applied for) is paid on `on`;
    from that day its period shows. Raises LICENCE_PAYMENT_NOT_DUE if no invoice is open."""
    _check(licence, Event.INVOICE_PAID, on)
    terms = _terms_until(licence, on)
    due = [i for i, t in enumerate(terms) if t.payment is Payment.INVOICE and t.invoice_paid_on is None and on <= t.end]
    if not due:
        raise _refuse(licence, "LICENCE_PAYMENT_NOT_DUE", f"no unpaid invoice on {on}")
    paid = replace(terms[due[0]], invoice_paid_on=on)
    return _with(licence, (*terms[: due[0]], paid, *terms[due[0] + 1 :]))


# --- what the ライセンス tab and whoami show ------------------------------------------------------
def _span(term: Term | None) -> str:
    return "-" if term is None else f"{term.start.isoformat()}～{term.end.isoformat()}"


def _iso(day: date | None) -> str:
    return "-" if day is None else day.isoformat()


_NO_TERM: Mapping[str, object] = MappingProxyType(
    dict.fromkeys(("applied_on", "payment", "claim_month", "deduction_date", "paid_on", "period", "renewal_opens"), "-")
    | {"auto_renew": False}
)


def _term_summary(term: Term | None, today: date, *, in_force: bool) -> dict[str, object]:
    if term is None:
        return dict(_NO_TERM)
    paid = term.paid_by(today)
    return {
        "applied_on": term.applied_on.isoformat(),
        "payment": term.payment.value,
        "claim_month": "{:04d}-{:02d}".format(*claim_month(term.applied_on)),
        "deduction_date": _iso(deduction_date(term.applied_on) if term.payment is Payment.DEDUCTION else None),
        "paid_on": _iso(term.paid_on if paid else None),
        "period": _span(term) if paid else "-",
        "auto_renew": term.auto_renew,
        "renewal_opens": _iso(term.renewal_opens if in_force else None),
    }


def summary(licence: Licence, today: date) -> dict[str, object]:
    """The licence on `today` as plain JSON values, 「-」 where there is nothing to show yet: what
    the usage website's ライセンス tab and the client's whoami show. The term described is the one
    in force (or, once expired, the last one); `next_period` is a renewal already applied for."""
    terms = _terms_until(licence, today)
    now = state(licence, today)
    shown = _shown(terms, today)
    following = terms[terms.index(shown) + 1 :] if shown is not None else ()
    return {
        "office_number": licence.office_number,
        "state": now.value,
        "notice": MSG_APPLICATION_DONE if now in IN_FORCE else "",
        "fee_yen": FEE_PER_YEAR,
        "fee_per_month_yen": FEE_PER_MONTH,
        **_term_summary(shown, today, in_force=now in IN_FORCE),
        "expires": expiry_display(licence, today),
        "next_period": _span(following[0] if following else None),
        "listed_from": _iso(listed_from(licence)),
    }


__all__ = [
    "ACTIONS",
    "AUTO_RENEWAL_FROM",
    "CLAIM_CUTOFF_DAY",
    "FEE_PER_MONTH",
    "FEE_PER_YEAR",
    "IN_FORCE",
    "LISTING_DELAY_MONTHS",
    "PAYMENT_DAY",
    "PERIOD_MONTHS",
    "REFUSALS",
    "RENEWAL_WINDOW_MONTHS",
    "TRANSITIONS",
    "Event",
    "Licence",
    "LicenceState",
    "Payment",
    "Term",
    "apply",
    "cancel",
    "claim_month",
    "deduction_date",
    "expiry_display",
    "listed_from",
    "may_receive",
    "may_send",
    "new_licence",
    "period",
    "record_invoice_payment",
    "renew",
    "state",
    "summary",
]
