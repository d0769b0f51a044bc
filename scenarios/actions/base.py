"""What an action is: its name, the keys its mapping argument may carry, the check the loader runs
on its argument (before anything starts) and the coroutine that performs it. Each action module
keeps all three together, so adding or changing an action touches one place."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Awaitable, Callable, Mapping
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


MAX_SHIFT = dt.timedelta(days=100 * 366)  # the hub's clock spans 2000-2099: a longer move cannot land


def delta(value: Any) -> dt.timedelta:
    return dt.timedelta(**{k: float(v) for k, v in value.items()})


def is_delta(value: Any) -> bool:
    """`value` is a time shift `{days, hours, minutes, seconds}` of numbers, shorter than a
    century (a string, `.inf` or `days: 1e10` would fail only once the step runs)."""
    if not isinstance(value, Mapping) or not value or set(value) - DELTA_KEYS:
        return False
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value.values()):
        return False
    try:
        return abs(delta(value)) < MAX_SHIFT
    except OverflowError:
        return False


def is_count(value: Any) -> bool:
    """A whole number ≥ 0 (`expect_count: 2`), or a `${variable}` that gives one when the step runs."""
    return (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or is_variable(value)


def is_variable(value: Any) -> bool:
    return isinstance(value, str) and "${" in value
