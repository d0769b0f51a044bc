"""The フリーパスキャンペーン (careplan/licence.py CAMPAIGNS, decisions D24/D25): at its boundaries."""

from __future__ import annotations

from datetime import date

import pytest

from careplan import licence as lic
from careplan.errors import CareplanError
from careplan.licence import CAMPAIGNS, Campaign, Licence, LicenceState, Payment
from careplan.office import with_check_digit

OFFICE = with_check_digit("137123456")
D = date
S = LicenceState
FREE_PASS = "フリーパスキャンペーン"


def applied(on: date, payment: Payment = Payment.DEDUCTION) -> Licence:
    return lic.apply(lic.new_licence(OFFICE), on=on, payment=payment)


def fee(licence: Licence, today: date) -> tuple[int, int, str]:
    view = lic.summary(licence, today)
    return view["fee_due_yen"], view["fee_waived_yen"], view["campaign"]  # type: ignore[return-value]


def test_the_campaign_is_data() -> None:
    (free_pass,) = CAMPAIGNS
    assert (free_pass.name, free_pass.applications_from) == (FREE_PASS, D(2025, 6, 1))
    assert free_pass.applications_until == D(2026, 5, 31)  # our reading (D24): one year
    assert free_pass.renewals is False  # D25
    with pytest.raises(ValueError, match="ends before"):
        Campaign(name="x", applications_from=D(2025, 6, 1), applications_until=D(2025, 5, 31))


@pytest.mark.parametrize(
    ("applied_on", "waived"),
    [
        (D(2025, 5, 31), False),  # the day before
        (D(2025, 6, 1), True),  # the first day
        (D(2026, 5, 31), True),  # the last day of our reading
        (D(2026, 6, 1), False),  # the day after
    ],
)
def test_applications_from_2025_06_01_are_waived(applied_on: date, waived: bool) -> None:
    licence = applied(applied_on)
    assert fee(licence, applied_on) == ((0, 21_000, FREE_PASS) if waived else (21_000, 0, ""))
    assert lic.summary(licence, applied_on)["fee_yen"] == 21_000  # the list price stays shown


def test_the_waiver_keeps_the_calendar() -> None:
    licence = applied(D(2025, 6, 10))  # claim June, period 2025-06-01 … 2026-05-31
    assert lic.expiry_display(licence, D(2025, 7, 24)) == "-"  # R3.4 as for a paid application
    assert lic.state(licence, D(2025, 7, 24)) is S.APPLIED
    assert lic.expiry_display(licence, D(2025, 7, 25)) == "2026-05-31"
    assert lic.state(licence, D(2025, 7, 25)) is S.VALID


def test_end_of_the_waived_year_and_the_renewal_after_it() -> None:
    licence = applied(D(2025, 6, 1))
    # The last day of the waived year: still the waived term.
    assert lic.summary(licence, D(2026, 5, 31))["period"] == "2025-06-01～2026-05-31"
    assert fee(licence, D(2026, 5, 31)) == (0, 21_000, FREE_PASS)
    # The automatic renewal (applied for when the window opened, 2026-04-01, inside the campaign's
    # window) is a renewal: charged, deducted from April's claim on 2026-05-25.
    assert lic.summary(licence, D(2026, 4, 1))["next_period"] == "2026-06-01～2027-05-31"
    after = lic.summary(licence, D(2026, 6, 1))
    assert (after["state"], after["period"]) == ("有効", "2026-06-01～2027-05-31")
    assert after["deduction_date"] == "2026-05-25"
    assert fee(licence, D(2026, 6, 1)) == (21_000, 0, "")


def test_a_waived_invoice_term_has_no_invoice() -> None:
    licence = applied(D(2025, 6, 10), Payment.INVOICE)
    with pytest.raises(CareplanError) as caught:
        lic.record_invoice_payment(licence, on=D(2025, 6, 20))
    assert caught.value.code == "LICENCE_PAYMENT_NOT_DUE"
    assert lic.state(licence, D(2025, 7, 25)) is S.VALID  # settles on the claim's day, like a deduction
    # Its automatic renewal is charged and invoiced.
    renewed = lic.record_invoice_payment(licence, on=D(2026, 4, 20))
    assert renewed.terms[-1].automatic and renewed.terms[-1].invoice_paid_on == D(2026, 4, 20)


def test_earlier_licences_and_their_renewals_are_charged() -> None:
    earlier = applied(D(2025, 4, 10))  # before the campaign: paid, no refund (D25)
    assert fee(earlier, D(2025, 6, 1)) == (21_000, 0, "")
    renewed = lic.renew(earlier, on=D(2026, 2, 1))  # a renewal inside the campaign's window
    assert renewed.terms[-1].campaign == ""
    assert fee(renewed, D(2026, 4, 1)) == (21_000, 0, "")


def test_a_new_application_after_expiry_is_waived() -> None:
    lapsed = applied(D(2024, 5, 10))  # 2024-05-01 … 2025-04-30, then 期限切れ
    assert lic.state(lapsed, D(2025, 6, 20)) is S.EXPIRED
    again = lic.renew(lapsed, on=D(2025, 6, 20))  # after expiry a renewal is a new application
    assert fee(again, D(2025, 6, 20)) == (0, 21_000, FREE_PASS)


def test_the_waiver_is_stored_with_the_term() -> None:
    licence = applied(D(2025, 6, 1))
    stored = licence.to_json()
    assert stored["terms"][0]["campaign"] == FREE_PASS  # type: ignore[index]
    assert Licence.from_json(stored) == licence
    del stored["terms"][0]["campaign"]  # type: ignore[index]
    assert Licence.from_json(stored).terms[0].campaign == ""  # stored before campaigns: charged
