"""What a run records: one StepResult per step, one ScenarioResult per scenario (JSON-ready).

A scenario is passed, failed (a step, or its setup or teardown) or not run (`skip_reason`: the run
stopped trying scenarios, its hub out of reach); a step is passed, failed or skipped."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

UNREACHABLE = "HUB_UNREACHABLE"


@dataclass(slots=True, kw_only=True)
class StepResult:
    index: int
    line: int
    actor: str
    action: str
    expectation: str
    outcome: str  # "ok", "CODE", or what a check found
    passed: bool
    skipped: bool = False
    explanation: dict[str, Any] = field(default_factory=dict)  # code, message, detail, fix
    note: str = ""
    duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True, kw_only=True)
class ScenarioResult:
    name: str
    path: str
    line: int
    tags: tuple[str, ...]
    steps: list[StepResult] = field(default_factory=list)
    error: str = ""  # a problem outside the steps (setup)
    error_code: str = ""  # the hub's code when `error` is its refusal
    error_explanation: dict[str, Any] = field(default_factory=dict)  # that refusal, as a step's explanation
    skip_reason: str = ""  # why the scenario was not run (its steps all skipped)
    duration: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.error and not self.skipped and all(s.passed for s in self.steps)

    @property
    def skipped(self) -> bool:
        return bool(self.skip_reason)

    @property
    def failed(self) -> bool:
        return not self.passed and not self.skipped

    @property
    def hub_unreachable(self) -> bool:
        """The hub did not answer: at the failing step, or in the setup or teardown."""
        step = self.failing_step
        return UNREACHABLE in (self.error_code, step.outcome if step else "")

    @property
    def failing_step(self) -> StepResult | None:
        return next((s for s in self.steps if not s.passed and not s.skipped), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "line": self.line,
            "tags": list(self.tags),
            "passed": self.passed,
            "skipped": self.skipped,
            "skip_reason": self.skip_reason,
            "error": self.error,
            "duration": round(self.duration, 3),
            "steps": [s.to_json() for s in self.steps],
        }


class StepFailed(Exception):
    """A check inside a step found something other than what the scenario expects."""
