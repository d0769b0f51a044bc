"""The office's 利用ライセンス: apply, renew, cancel, pay_invoice (changes made by the 国保連合会's
side through the hub driver) and `licence` (read and compare)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from careplan import licence as lic
from scenarios.actions.base import Action, Checker, Outcome
from scenarios.messages import not_one_of
from scenarios.results import StepFailed

if TYPE_CHECKING:
    from scenarios.context import Run
    from scenarios.model import Step

PAYMENTS = (None, "deduction", "invoice", "差引", "請求書")
_WIRE = {lic.Payment.DEDUCTION: "deduction", lic.Payment.INVOICE: "invoice"}


async def _change(run: Run, step: Step, argument: Any, action: str) -> Outcome:
    number = run.actor(step.actor or "").office.number
    payment = lic.Payment(argument) if argument else None  # refuses an unknown payment as before
    summary = await run.driver.change_licence(number, action, _WIRE[payment] if payment else None)
    state, claim, deduction = summary["state"], summary["claim_month"], summary["deduction_date"]
    note = f"{state}、請求月は {claim}、差引日は {deduction} / claim {claim}, deduction {deduction}"
    return summary["state"], note


async def apply(run: Run, step: Step, argument: Any) -> Outcome:
    return await _change(run, step, argument, "apply")


async def renew(run: Run, step: Step, argument: Any) -> Outcome:
    return await _change(run, step, argument, "renew")


async def cancel(run: Run, step: Step, argument: Any) -> Outcome:
    return await _change(run, step, None, "cancel")


async def pay_invoice(run: Run, step: Step, argument: Any) -> Outcome:
    """The 国保連合会 records the payment of the office's open invoice today."""
    return await _change(run, step, None, "pay_invoice")


def check_payment(argument: Any, check: Checker) -> None:
    if argument not in PAYMENTS:
        raise check.fail(not_one_of("支払方法", argument, [str(p) for p in PAYMENTS if p], what_en="payment"))


async def licence(run: Run, step: Step, argument: Mapping[str, Any] | None) -> Outcome:
    argument = argument or {}
    number = run.actor(step.actor or "").office.number
    summary, today = await run.driver.licence_summary(number)
    for key, field_name in (("expect_state", "state"), ("expect_expires", "expires"), ("expect_period", "period")):
        if key in argument and str(argument[key]) != str(summary[field_name]):
            got, expected = summary[field_name], argument[key]
            raise StepFailed(
                f"{field_name} は {got!r} でした（想定は {expected!r}）"
                f" / {field_name} is {got!r}, expected {expected!r}"
            )
    note = (
        f"{summary['state']}、期限は {summary['expires']}、期間は {summary['period']}（{today} 時点）"
        f" / expires {summary['expires']}, period {summary['period']} (on {today})"
    )
    return summary["state"], note


LICENSING = (
    Action(name="apply", run=apply, check=check_payment),
    Action(name="renew", run=renew, check=check_payment),
    Action(name="cancel", run=cancel),
    Action(name="pay_invoice", run=pay_invoice),
    Action(name="licence", run=licence, keys=frozenset({"expect_state", "expect_expires", "expect_period"})),
)
