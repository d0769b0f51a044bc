"""What an action is: its name, the keys its mapping argument may carry, the check the loader runs
on its argument (before anything starts) and the coroutine that performs it. Each action module
keeps all three together, so adding or changing an action touches one place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from scenarios.context import Run
    from scenarios.model import Step

Outcome = tuple[Any, str]  # (the value `save:` keeps, a note for the report)
DELTA_KEYS = frozenset({"days", "hours", "minutes", "seconds"})


class Checker(Protocol):
    """What the loader offers an argument check: errors carrying file:line, and office labels."""

    def fail(self, text: str) -> Exception: ...
    def office(self, value: Any) -> None: ...  # raises unless `value` is an office label or a ${variable}
    def instant(self, value: Any) -> dt.datetime: ...


def no_check(argument: Any, check: Checker) -> None:
    """Nothing to check beyond the allowed keys."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    name: str
    run: Callable[[Run, Step, Any], Awaitable[Outcome]]
    keys: frozenset[str] | None = None  # keys of a mapping argument; None: a scalar argument or nothing
    check: Callable[[Any, Checker], None] = no_check
    actorless: bool = False  # `clock`, `revoke`: the hub's side, no `as:`


def delta(value: Any) -> dt.timedelta:
    return dt.timedelta(**{k: float(v) for k, v in value.items()})
