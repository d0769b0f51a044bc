"""The control operations as functions over `Control`, for the admin routes, the dashboard and the
in-process scenario runner alike (each takes the gate where the state changes as a whole)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from careplan.errors import CareplanError, Operation
from hub.control.faults import FaultRule
from hub.control.plane import CONTROL, Control

__all__ = ["CONTROL", "Control", "change_faults", "reset_hub", "restore_snapshot", "save_snapshot"]


async def reset_hub(control: Control, to: str) -> dict[str, Any]:
    if to not in ("seed", "empty"):
        raise CareplanError(
            "BAD_REQUEST",
            operation=Operation.ADMIN,
            detail='"to" は "seed"（省略時）か "empty" です',
            fix='{"to": "empty"} のように送ってください。',
            detail_en='"to" is "seed" (default) or "empty"',
            fix_en='Send e.g. {"to": "empty"}.',
        )
    async with control.gate.exclusive():
        return await control.snapshots.reset(empty=to == "empty", seeder=control.seeder)


async def save_snapshot(control: Control, name: str) -> dict[str, Any]:
    async with control.gate.exclusive():
        return await control.snapshots.save(name)


async def restore_snapshot(control: Control, name: str) -> dict[str, Any]:
    async with control.gate.exclusive():
        return await control.snapshots.restore(name)


async def change_faults(
    control: Control, add: Sequence[dict[str, Any]], *, seed: int, clear: bool, now: dt.datetime
) -> list[dict[str, Any]]:
    """Clear the rules (if asked), then add `add` (each validated first: all or nothing)."""
    rules = [FaultRule.from_json(r) for r in add]
    for rule in rules:
        rule.check_new(control.faults.routes)
    if clear:
        await control.faults.clear()
    return await control.faults.add(rules, seed=seed, now=now.isoformat()) if rules else await control.faults.list()
