"""The licence lifecycle (careplan/licence.py): every date rule at its boundaries, the tables, JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careplan import licence as lic
from careplan.errors import CATALOGUE, MSG_APPLICATION_DONE, CareplanError
from careplan.licence import (
    ACTIONS,
    REFUSALS,
    TRANSITIONS,
    Event,
    Licence,
    LicenceState,
    Payment,
    Term,
)
from careplan.office import with_check_digit

OFFICE = with_check_digit("137123456")
D = date
S = LicenceState


def applied(on: date, payment: Payment = Payment.DEDUCTION) -> Licence:
    return lic.apply(lic.new_licence(OFFICE), on=on, payment=payment)


def refused(code: str, action: Callable[[], object]) -> CareplanError:
    with pytest.raises(CareplanError) as caught:
        action()
    assert caught.value.code == code, caught.value
    assert caught.value.status == 409
    assert OFFICE in caught.value.detail
    return caught.value


# --- fee, claim month and deduction day (R3.1, R3.2) ----------------------------------------------
def test_fee_is_monthly_price_times_twelve() -> None:
    assert (lic.FEE_PER_MONTH, lic.FEE_PER_YEAR) == (1_750, 21_000)
    assert lic.FEE_PER_MONTH * 12 == lic.FEE_PER_YEAR


@pytest.mark.parametrize(
    ("applied_on", "claim", "deducted"),
    [
        (D(2025, 4, 1), (2025, 4), D(2025, 5, 25)),
        (D(2025, 4, 15), (2025, 4), D(2025, 5, 25)),  # the 15th: this month's claim
        (D(2025, 4, 16), (2025, 5), D(2025, 6, 25)),  # the 16th: next month's claim
        (D(2025, 1, 31), (2025, 2), D(2025, 3, 25)),  # month end
        (D(2025, 11, 30), (2025, 12), D(2026, 1, 25)),  # deduction crosses the year
        (D(2025, 12, 15), (2025, 12), D(2026, 1, 25)),
        (D(2025, 12, 16), (2026, 1), D(2026, 2, 25)),  # claim crosses the year
        (D(2025, 12, 31), (2026, 1), D(2026, 2, 25)),
        (D(2028, 2, 15), (2028, 2), D(2028, 3, 25)),
        (D(2028, 2, 29), (2028, 3), D(2028, 4, 25)),  # leap day
    ],
)
def test_claim_month_and_deduction_date(applied_on: date, claim: tuple[int, int], deducted: date) -> None:
    assert lic.claim_month(applied_on) == claim
    assert lic.deduction_date(applied_on) == deducted


@given(st.dates(min_value=D(2023, 1, 1), max_value=D(2099, 12, 31)))
def test_claim_and_deduction_rules_hold_for_every_day(day: date) -> None:
    year, month = lic.claim_month(day)
    same_month = (year, month) == (day.year, day.month)
    assert same_month == (day.day <= lic.CLAIM_CUTOFF_DAY)
    if not same_month:
        assert D(year, month, 1) == (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    deducted = lic.deduction_date(day)
    assert deducted.day == lic.PAYMENT_DAY
    assert (deducted.year * 12 + deducted.month) - (year * 12 + month) == 1
    assert deducted > day


# --- the period (rule 5) --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("applied_on", "start", "end"),
    [
        (D(2025, 4, 15), D(2025, 4, 1), D(2026, 3, 31)),
        (D(2025, 4, 16), D(2025, 5, 1), D(2026, 4, 30)),
        (D(2025, 1, 31), D(2025, 2, 1), D(2026, 1, 31)),
        (D(2025, 12, 16), D(2026, 1, 1), D(2026, 12, 31)),
        (D(2028, 2, 29), D(2028, 3, 1), D(2029, 2, 28)),  # leap-day application, period from Mar 1
        (D(2027, 3, 10), D(2027, 3, 1), D(2028, 2, 29)),  # a period ending on Feb 29
    ],
)
def test_period_is_twelve_months_from_the_claim_month(applied_on: date, start: date, end: date) -> None:
    licence = applied(applied_on)
    paid = lic.deduction_date(applied_on)
    assert lic.period(licence, paid) == (start, end)
    assert lic.expiry_display(licence, paid) == end.isoformat()
    assert lic.state(licence, end) is S.VALID


def test_deduction_day_and_the_day_before() -> None:
    licence = applied(D(2025, 4, 10))
    before, deducted = D(2025, 5, 24), D(2025, 5, 25)
    assert lic.state(licence, before) is S.APPLIED
    assert lic.expiry_display(licence, before) == "-"
    assert lic.period(licence, before) is None
    assert lic.state(licence, deducted) is S.VALID
    assert lic.expiry_display(licence, deducted) == "2026-03-31"
    assert lic.period(licence, deducted) == (D(2025, 4, 1), D(2026, 3, 31))


def test_expiry_day_and_the_day_after() -> None:
    licence = applied(D(2025, 4, 10))  # before 2025-06-01: no automatic renewal
    assert lic.state(licence, D(2026, 3, 31)) is S.VALID
    assert lic.may_send(licence, D(2026, 3, 31)) and lic.may_receive(licence, D(2026, 3, 31))
    assert lic.state(licence, D(2026, 4, 1)) is S.EXPIRED
    assert not lic.may_send(licence, D(2026, 4, 1)) and not lic.may_receive(licence, D(2026, 4, 1))
    # An expired licence still shows when it ended.
    assert lic.expiry_display(licence, D(2026, 4, 1)) == "2026-03-31"


def test_before_the_application_the_licence_is_unapplied() -> None:
    licence = applied(D(2025, 4, 10))
    assert lic.state(lic.new_licence(OFFICE), D(2025, 4, 10)) is S.UNAPPLIED
    assert lic.state(licence, D(2025, 4, 9)) is S.UNAPPLIED
    assert not lic.may_send(licence, D(2025, 4, 9))
    assert lic.state(licence, D(2025, 4, 10)) is S.APPLIED


def test_applied_office_may_send_and_receive_before_its_period_starts() -> None:
    licence = applied(D(2025, 4, 16))  # the period starts 2025-05-01
    for day in (D(2025, 4, 16), D(2025, 4, 30), D(2025, 5, 1)):
        assert lic.state(licence, day) is S.APPLIED
        assert lic.may_send(licence, day) and lic.may_receive(licence, day)  # R3.6, R3.7
        assert lic.expiry_display(licence, day) == "-"  # R3.4


# --- renewal and automatic renewal (rule 9) -------------------------------------------------------
def test_renewal_window_opens_two_months_before_the_end() -> None:
    licence = applied(D(2025, 4, 10))  # 2025-04-01 … 2026-03-31
    error = refused("LICENCE_RENEWAL_NOT_OPEN", lambda: lic.renew(licence, on=D(2026, 1, 31)))
    assert "2026-02-01" in error.detail
    renewed = lic.renew(licence, on=D(2026, 2, 1))
    assert renewed.terms[-1] == Term(applied_on=D(2026, 2, 1), start=D(2026, 4, 1))
    assert lic.summary(renewed, D(2026, 2, 1))["next_period"] == "2026-04-01～2027-03-31"
    # The renewal is deducted on 2026-03-25; the current period stays shown until it ends.
    assert lic.expiry_display(renewed, D(2026, 3, 31)) == "2026-03-31"
    assert lic.state(renewed, D(2026, 4, 1)) is S.VALID
    assert lic.expiry_display(renewed, D(2026, 4, 1)) == "2027-03-31"


def test_renewal_on_the_last_day_runs_on_without_a_gap() -> None:
    licence = lic.renew(applied(D(2025, 4, 10)), on=D(2026, 3, 31))  # claim April, deducted 2026-05-25
    assert lic.state(licence, D(2026, 4, 1)) is S.APPLIED  # in force, the new expiry waits
    assert lic.may_receive(licence, D(2026, 4, 1))
    assert lic.expiry_display(licence, D(2026, 5, 24)) == "-"
    assert lic.expiry_display(licence, D(2026, 5, 25)) == "2027-03-31"


def test_renewing_twice_or_never_applied_is_refused() -> None:
    licence = lic.renew(applied(D(2025, 4, 10)), on=D(2026, 2, 1))
    refused("LICENCE_ALREADY_APPLIED", lambda: lic.renew(licence, on=D(2026, 2, 2)))
    refused("LICENCE_NOT_APPLIED", lambda: lic.renew(lic.new_licence(OFFICE), on=D(2026, 2, 1)))


@pytest.mark.parametrize(
    ("renewed_on", "start", "day_before"),
    [
        (D(2026, 4, 1), D(2026, 4, 1), S.APPLIED),  # the day after expiry (the day before: unpaid, in force)
        (D(2026, 5, 20), D(2026, 6, 1), S.EXPIRED),  # a lapse: from the claim month, no backdating
    ],
)
def test_renewal_after_expiry_is_a_new_application(renewed_on: date, start: date, day_before: LicenceState) -> None:
    expired = applied(D(2025, 4, 10), Payment.INVOICE)
    licence = lic.renew(expired, on=renewed_on)
    assert licence.terms[-1].start == start
    assert licence.terms[-1].payment is Payment.INVOICE  # the payment carries over…
    assert lic.renew(expired, on=renewed_on, payment=Payment.DEDUCTION).terms[-1].payment is Payment.DEDUCTION
    assert lic.state(licence, renewed_on - timedelta(days=1)) is day_before
    assert lic.state(licence, renewed_on) is S.APPLIED


@pytest.mark.parametrize(
    ("applied_on", "auto"),
    [(D(2025, 5, 31), False), (D(2025, 6, 1), True)],
)
def test_automatic_renewal_from_2025_06_01(applied_on: date, auto: bool) -> None:
    licence = applied(applied_on)  # both: claim June, period 2025-06-01 … 2026-05-31
    assert licence.terms[0].start == D(2025, 6, 1)
    assert lic.summary(licence, D(2025, 7, 1))["auto_renew"] is auto
    after = D(2026, 6, 1)
    assert lic.state(licence, after) is (S.VALID if auto else S.EXPIRED)
    assert lic.period(licence, after) == ((D(2026, 6, 1), D(2027, 5, 31)) if auto else (D(2025, 6, 1), D(2026, 5, 31)))


def test_automatic_renewal_has_its_own_deduction_and_needs_no_action() -> None:
    licence = applied(D(2025, 6, 1))
    # Processed when the window opens (2026-04-01): claim April, deducted 2026-05-25.
    assert lic.summary(licence, D(2026, 3, 31))["next_period"] == "-"
    view = lic.summary(licence, D(2026, 4, 1))
    assert view["next_period"] == "2026-06-01～2027-05-31"
    assert view["renewal_opens"] == "2026-04-01"
    error = refused("LICENCE_ALREADY_APPLIED", lambda: lic.renew(licence, on=D(2026, 4, 1)))
    assert "automatically" in error.detail
    refused("LICENCE_ALREADY_APPLIED", lambda: lic.renew(licence, on=D(2025, 7, 1)))
    assert lic.state(licence, D(2031, 1, 1)) is S.VALID  # years later, still renewing
    assert lic.summary(lic.new_licence(OFFICE), D(2026, 1, 1))["auto_renew"] is False


def test_manual_renewal_on_or_after_2025_06_01_turns_automatic() -> None:
    licence = lic.renew(applied(D(2025, 4, 10)), on=D(2026, 2, 1))
    assert lic.state(licence, D(2027, 4, 1)) is S.VALID
    assert lic.period(licence, D(2027, 4, 1)) == (D(2027, 4, 1), D(2028, 3, 31))


# --- invoice payment (rule 4) ---------------------------------------------------------------------
def test_invoice_counts_as_paid_on_the_recorded_day() -> None:
    licence = applied(D(2025, 4, 10), Payment.INVOICE)
    assert lic.summary(licence, D(2025, 4, 10))["deduction_date"] == "-"
    assert lic.state(licence, D(2025, 5, 25)) is S.APPLIED  # no deduction for an invoice
    paid = lic.record_invoice_payment(licence, on=D(2025, 7, 3))
    assert lic.state(paid, D(2025, 7, 2)) is S.APPLIED
    assert lic.state(paid, D(2025, 7, 3)) is S.VALID
    assert lic.expiry_display(paid, D(2025, 7, 3)) == "2026-03-31"
    assert lic.summary(paid, D(2025, 7, 3))["paid_on"] == "2025-07-03"
    refused("LICENCE_PAYMENT_NOT_DUE", lambda: lic.record_invoice_payment(paid, on=D(2025, 7, 4)))


def test_unpaid_invoice_is_in_force_until_the_end_then_expires() -> None:
    licence = applied(D(2025, 4, 10), Payment.INVOICE)
    assert lic.state(licence, D(2026, 3, 31)) is S.APPLIED
    assert lic.state(licence, D(2026, 4, 1)) is S.EXPIRED
    assert lic.expiry_display(licence, D(2026, 4, 1)) == "-"
    refused("LICENCE_PAYMENT_NOT_DUE", lambda: lic.record_invoice_payment(licence, on=D(2026, 4, 1)))


def test_invoice_payment_is_refused_without_an_open_invoice() -> None:
    refused("LICENCE_PAYMENT_NOT_DUE", lambda: lic.record_invoice_payment(applied(D(2025, 4, 10)), on=D(2025, 4, 11)))
    refused("LICENCE_PAYMENT_NOT_DUE", lambda: lic.record_invoice_payment(lic.new_licence(OFFICE), on=D(2025, 4, 1)))


def test_automatic_renewal_by_invoice_is_paid_for_its_own_term() -> None:
    licence = lic.record_invoice_payment(applied(D(2025, 7, 1), Payment.INVOICE), on=D(2025, 7, 20))
    renewed = lic.record_invoice_payment(licence, on=D(2026, 5, 10))  # the automatic term opened 2026-05-01
    assert [t.automatic for t in renewed.terms] == [False, True]
    assert renewed.terms[1].invoice_paid_on == D(2026, 5, 10)
    assert lic.expiry_display(renewed, D(2026, 7, 1)) == "2027-06-30"
    assert lic.expiry_display(licence, D(2026, 7, 1)) == "-"  # unpaid: in force, no expiry shown
    assert Licence.from_json(renewed.to_json()) == renewed


# --- refusals: cancellation, double application, order (rules 6, 8) --------------------------------
@pytest.mark.parametrize("day", [D(2025, 4, 10), D(2025, 5, 25), D(2026, 3, 31)])
def test_no_cancellation_within_a_period(day: date) -> None:
    licence = applied(D(2025, 4, 10))
    error = refused("LICENCE_NO_CANCELLATION", lambda: lic.cancel(licence, on=day))
    assert error.message == "ライセンス有効期間中の途中解約は受け付けておりません。"
    assert lic.state(licence, day) in lic.IN_FORCE


def test_nothing_to_cancel_outside_a_period() -> None:
    refused("LICENCE_NOT_APPLIED", lambda: lic.cancel(lic.new_licence(OFFICE), on=D(2025, 4, 1)))
    refused("LICENCE_NOT_APPLIED", lambda: lic.cancel(applied(D(2025, 4, 10)), on=D(2026, 4, 1)))


@pytest.mark.parametrize("day", [D(2025, 4, 10), D(2025, 5, 25), D(2026, 3, 31)])
def test_applying_twice_is_refused(day: date) -> None:
    licence = applied(D(2025, 4, 10))
    refused("LICENCE_ALREADY_APPLIED", lambda: lic.apply(licence, on=day, payment=Payment.INVOICE))


def test_applying_again_after_expiry_starts_a_new_run() -> None:
    licence = lic.apply(applied(D(2025, 1, 31)), on=D(2026, 3, 16), payment=Payment.DEDUCTION)
    assert licence.terms[-1].start == D(2026, 4, 1)
    assert lic.state(licence, D(2026, 3, 16)) is S.APPLIED
    assert lic.listed_from(licence) == D(2026, 4, 16)


def test_events_must_be_recorded_in_date_order() -> None:
    # A day before a recorded event means the hub's clock was moved back: a clean 409 (issue 9).
    with pytest.raises(CareplanError) as caught:
        lic.apply(applied(D(2025, 4, 10)), on=D(2025, 4, 9), payment=Payment.DEDUCTION)
    assert (caught.value.code, caught.value.status) == ("CLOCK_BEFORE_RECORDED", 409)
    assert "before the last recorded event (2025-04-10)" in caught.value.detail_en


# --- the tables -----------------------------------------------------------------------------------
@pytest.mark.parametrize("state", list(S))
def test_every_action_in_every_state_is_allowed_or_refused_exactly_once(state: LicenceState) -> None:
    for action in ACTIONS:
        assert (action in TRANSITIONS[state]) != (action in REFUSALS[state]), (state, action)
    assert set(REFUSALS[state]) <= set(ACTIONS)


def test_no_state_allows_cancellation() -> None:
    assert all(Event.CANCEL not in edges for edges in TRANSITIONS.values())


def test_refusal_codes_are_our_own_catalogue_entries() -> None:
    codes = {code for refusals in REFUSALS.values() for code in refusals.values()}
    codes |= {"LICENCE_RENEWAL_NOT_OPEN"}
    for code in codes:
        assert not CATALOGUE[code].real, code
        assert CATALOGUE[code].status == 409
    assert str(lic.RENEWAL_WINDOW_MONTHS) in CATALOGUE["LICENCE_RENEWAL_NOT_OPEN"].message()


_DAYS = st.dates(min_value=D(2024, 1, 1), max_value=D(2028, 12, 31))
_ACTIONS = st.lists(
    st.tuples(st.sampled_from([*ACTIONS, "apply-invoice"]), _DAYS),
    max_size=8,
)


def _run(steps: list[tuple[str, date]]) -> Licence:
    licence = lic.new_licence(OFFICE)
    for name, day in sorted(steps, key=lambda step: step[1]):
        try:
            if name in (Event.APPLY, "apply-invoice"):
                pay = Payment.INVOICE if name == "apply-invoice" else Payment.DEDUCTION
                licence = lic.apply(licence, on=day, payment=pay)
            elif name == Event.RENEW:
                licence = lic.renew(licence, on=day)
            elif name == Event.CANCEL:
                licence = lic.cancel(licence, on=day)
            else:
                licence = lic.record_invoice_payment(licence, on=day)
        except CareplanError as refusal:
            assert refusal.code in CATALOGUE and refusal.status == 409
    return licence


def _reachable_in_a_day(state: LicenceState) -> set[LicenceState]:
    """States reachable along at most two edges: two events may fall on one day (apply and pay)."""
    one = {state, *TRANSITIONS[state].values()}
    return one | {after for s in one for after in TRANSITIONS[s].values()}


@settings(max_examples=30, deadline=None)
@given(_ACTIONS)
def test_state_moves_only_along_the_table(steps: list[tuple[str, date]]) -> None:
    licence = _run(steps)
    day, previous = D(2024, 1, 1), S.UNAPPLIED
    while day <= D(2030, 12, 31):
        now = lic.state(licence, day)
        assert now in _reachable_in_a_day(previous), (day, previous, now)
        assert lic.may_send(licence, day) == lic.may_receive(licence, day) == (now in lic.IN_FORCE)
        assert (lic.expiry_display(licence, day) == "-") == (lic.period(licence, day) is None)
        day, previous = day + timedelta(days=1), now


@settings(max_examples=60, deadline=None)
@given(_ACTIONS, _DAYS)
def test_json_round_trip(steps: list[tuple[str, date]], today: date) -> None:
    licence = _run(steps)
    stored = json.loads(json.dumps(licence.to_json(), ensure_ascii=False))
    back = Licence.from_json(stored)
    assert back == licence
    assert lic.summary(back, today) == lic.summary(licence, today)
    json.dumps(lic.summary(licence, today), ensure_ascii=False)


def test_from_json_refuses_an_unknown_version() -> None:
    with pytest.raises(ValueError, match="version"):
        Licence.from_json({"office_number": OFFICE, "terms": []})


# --- values, listing and the summary (rules 2, 10) --------------------------------------------------
def test_values_validate() -> None:
    with pytest.raises(ValueError, match="事業所番号"):
        lic.new_licence("12345")
    with pytest.raises(ValueError, match="1st"):
        Term(applied_on=D(2025, 4, 10), start=D(2025, 4, 2))
    with pytest.raises(ValueError, match="invoice"):
        Term(applied_on=D(2025, 4, 10), start=D(2025, 4, 1), invoice_paid_on=D(2025, 5, 1))
    with pytest.raises(ValueError, match="overlap"):
        Licence(office_number=OFFICE, terms=(Term(applied_on=D(2025, 4, 10), start=D(2025, 4, 1)),) * 2)
    assert Payment("invoice") is Payment.INVOICE and Payment("deduction") is Payment.DEDUCTION


@pytest.mark.parametrize(
    ("applied_on", "listed"),
    [
        (D(2025, 4, 10), D(2025, 5, 10)),
        (D(2025, 1, 31), D(2025, 2, 28)),  # clamped to the month end
        (D(2028, 1, 30), D(2028, 2, 29)),
        (D(2025, 12, 15), D(2026, 1, 15)),
    ],
)
def test_listed_a_month_after_applying(applied_on: date, listed: date) -> None:
    assert lic.listed_from(applied(applied_on)) == listed
    assert lic.listed_from(lic.new_licence(OFFICE)) is None


def test_renewal_keeps_the_listing() -> None:
    assert lic.listed_from(lic.renew(applied(D(2025, 4, 10)), on=D(2026, 2, 1))) == D(2025, 5, 10)


def test_summary_is_what_the_licence_tab_shows() -> None:
    licence = applied(D(2025, 4, 16))
    pending = lic.summary(licence, D(2025, 4, 16))
    assert pending == {
        "office_number": OFFICE,
        "state": "申請済",
        "notice": MSG_APPLICATION_DONE,
        "fee_yen": 21_000,
        "fee_per_month_yen": 1_750,
        "applied_on": "2025-04-16",
        "payment": "介護給付費からの差引",
        "claim_month": "2025-05",
        "deduction_date": "2025-06-25",
        "paid_on": "-",
        "period": "-",
        "auto_renew": False,
        "renewal_opens": "2026-03-01",
        "expires": "-",
        "next_period": "-",
        "listed_from": "2025-05-16",
    }
    valid = lic.summary(licence, D(2025, 6, 25))
    assert (valid["state"], valid["period"], valid["expires"], valid["paid_on"]) == (
        "有効",
        "2025-05-01～2026-04-30",
        "2026-04-30",
        "2025-06-25",
    )
    expired = lic.summary(licence, D(2026, 5, 1))
    assert (expired["state"], expired["notice"], expired["renewal_opens"]) == ("期限切れ", "", "-")
    assert lic.summary(lic.new_licence(OFFICE), D(2025, 1, 1))["state"] == "未申請"
