"""Actions about who is at the terminal and when: login, logout, the hub's clock, revocation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scenarios.actions.base import Action, Checker, Outcome, delta, is_delta
from scenarios.messages import not_one_of
from scenarios.model import CERTIFICATES, JST

if TYPE_CHECKING:
    from scenarios.context import Run
    from scenarios.model import Step


async def clock(run: Run, step: Step, argument: Mapping[str, Any]) -> Outcome:
    if "set" in argument:
        from scenarios.loader import _instant, _Where

        now = await run.driver.set_clock(_instant(argument["set"], _Where(run.scenario.path), step.line))
    else:
        now = await run.driver.advance_clock(delta(argument["advance"]))
    for actor in run.actors.values():  # terminals keep their clocks right; sessions may have lapsed
        await run.drop_client(actor)
    now = now.astimezone(JST)
    return now.isoformat(), f"ハブの時刻は {now.isoformat()} / hub time {now.isoformat()}"


def check_clock(argument: Any, check: Checker) -> None:
    if not isinstance(argument, Mapping) or len({"set", "advance"} & set(argument)) != 1:
        raise check.fail(
            "clock には {set: 日時} か {advance: {days: N, hours: N, minutes: N}} のどちらか一方を書きます"
            " / clock needs {set: TIME} or {advance: {days: N, hours: N, minutes: N}}"
        )
    if "set" in argument:
        check.instant(argument["set"])
    elif not is_delta(argument["advance"]):
        raise check.fail(
            "clock の advance には {days, hours, minutes, seconds} を数で書きます（合わせて100年未満）"
            " / clock advance takes numbers of {days, hours, minutes, seconds}, less than a century in all"
        )


async def login(run: Run, step: Step, argument: Mapping[str, Any] | None) -> Outcome:
    actor = run.actor(step.actor or "")
    argument = argument or {}
    await run.drop_client(actor)
    if "certificate" in argument:
        actor.keypair = run.driver.pki.terminal(actor.office, str(argument["certificate"]))
    actor.user = str(argument.get("user", actor.office.user))
    actor.password = str(argument.get("password", actor.office.password))
    client = await run.client(actor)
    result = await client.login(actor.user, actor.password)
    actor.logged_in = True
    return result.get("user_id", actor.user), f"{actor.user} でログインしました / logged in as {actor.user}"


def check_login(argument: Any, check: Checker) -> None:
    if argument is None:
        return
    if not isinstance(argument, Mapping):
        raise check.fail(
            "login には何も書かないか {user, password, certificate} を書きます"
            " / login takes nothing or {user, password, certificate}"
        )
    if "certificate" in argument and argument["certificate"] not in CERTIFICATES:
        raise check.fail(not_one_of("certificate", argument["certificate"], CERTIFICATES))


async def logout(run: Run, step: Step, argument: Any) -> Outcome:
    actor = run.actor(step.actor or "")
    client = await run.session(actor)
    await client.logout()
    actor.logged_in = False
    return None, "ログアウトしました / logged out"


async def revoke(run: Run, step: Step, argument: str) -> Outcome:
    actor = run.actor(argument)
    serial = actor.keypair.certificate.serial_number
    await run.driver.revoke(serial)
    return format(
        serial, "x"
    ), f"{argument} の証明書 {serial:x} を失効させました / revoked certificate {serial:x} of {argument}"


def check_revoke(argument: Any, check: Checker) -> None:
    check.office(argument)


SESSION = (
    Action(name="clock", run=clock, keys=frozenset({"set", "advance"}), check=check_clock, actorless=True),
    Action(name="login", run=login, keys=frozenset({"user", "password", "certificate"}), check=check_login),
    Action(name="logout", run=logout),
    Action(name="revoke", run=revoke, check=check_revoke, actorless=True),
)
