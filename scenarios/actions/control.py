"""The hub's control plane in a scenario: `faults` (inject latency, errors, cuts, a lost answer or an
early session end; hub.control.faults) and `snapshot` (save or restore the whole hub's state)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hub.control.snapshots import NAME
from scenarios.actions.base import Action, Checker, Outcome

if TYPE_CHECKING:
    from scenarios.context import Run
    from scenarios.model import Step


async def faults(run: Run, step: Step, argument: Mapping[str, Any]) -> Outcome:
    """`faults: {add: [rule, …], seed: N, clear: true}`; a rule's `office` is an office label."""
    rules = [
        dict(r) | ({"office": run.number(str(r["office"]))} if "office" in r else {}) for r in argument.get("add", ())
    ]
    clear = bool(argument.get("clear"))
    await run.driver.faults(rules, seed=int(argument.get("seed", 0)), clear=clear)
    return len(rules), (
        f"障害ルールを{'すべて消してから' if clear else ''} {len(rules)} 件加えました"
        f" / {len(rules)} fault rule(s) added{' after clearing' if clear else ''}"
    )


def check_faults(argument: Any, check: Checker) -> None:
    rules = argument.get("add", []) if isinstance(argument, Mapping) else None
    if not argument or not isinstance(rules, list) or not all(isinstance(r, Mapping) for r in rules):
        raise check.fail(
            "faults には {add: [ルール, …], seed: N} と {clear: true} の一方か両方を書きます"
            " / faults needs {add: [rule, …], seed: N} and/or {clear: true}"
        )
    for rule in rules:
        if "office" in rule:
            check.office(rule["office"])
    seed = argument.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise check.fail(f"faults: seed {seed!r} は整数ではありません / seed {seed!r} is not a whole number")
    if not isinstance(argument.get("clear", False), bool):
        raise check.fail("faults: clear には true か false を書きます / clear takes true or false")


async def snapshot(run: Run, step: Step, argument: Mapping[str, Any]) -> Outcome:
    """`snapshot: {save: NAME}` or `{restore: NAME}`: the whole hub's state."""
    [(action, name)] = argument.items()
    await run.driver.snapshot(str(action), str(name))
    done = ("保存しました", "saved") if action == "save" else ("戻しました", "restored")
    return name, f"スナップショット {name} を{done[0]} / snapshot {name} {done[1]}"


def check_snapshot(argument: Any, check: Checker) -> None:
    if not isinstance(argument, Mapping) or len(argument) != 1:
        raise check.fail(
            "snapshot には {save: 名前} か {restore: 名前} のどちらか一方を書きます"
            " / snapshot needs {save: NAME} or {restore: NAME}"
        )
    [name] = argument.values()
    if not (isinstance(name, str) and NAME.fullmatch(name)):
        raise check.fail(
            f"snapshot: 名前 {name!r} は使えません（文字・数字・'.'・'_'・'-' の1〜64文字、先頭は文字か数字）"
            f" / name {name!r}: 1-64 letters, digits, '.', '_', '-', first a letter or digit"
        )


CONTROL = (
    Action(name="faults", run=faults, keys=frozenset({"add", "clear", "seed"}), check=check_faults, actorless=True),
    Action(name="snapshot", run=snapshot, keys=frozenset({"save", "restore"}), check=check_snapshot, actorless=True),
)
