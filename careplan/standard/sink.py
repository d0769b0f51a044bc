"""The findings of one file, capped (decision D13): what every reader and rule reports into."""

from __future__ import annotations

from careplan.errors import Finding
from careplan.standard.layout import Field


class FindingSink:
    """Collects the findings of one file, at most `cap` of them (decision D13)."""

    def __init__(self, file: str, cap: int) -> None:
        self.file = file
        self.cap = cap
        self.items: list[Finding] = []
        self.suppressed = 0
        self.errors = 0
        self.stopped_at: int | None = None  # reading stopped here after `cap` errors
        self.blank_lines = 0
        self.lost: list[int] = []  # lines of records that could not be read (quoting, field count)
        self.fields: tuple[Field, ...] = ()  # the layout's items, once the file's layout is known

    @property
    def added(self) -> int:
        """How many findings were added, shown or not (a rule that added none found nothing)."""
        return len(self.items) + self.suppressed

    def add(self, rule: str, message: str, *, severity: str = "error", **kw: object) -> None:
        if severity == "error":
            self.errors += 1
        if len(self.items) >= self.cap:
            self.suppressed += 1
            return
        self.items.append(Finding(rule=rule, message=message, severity=severity, file=self.file, **kw))  # type: ignore[arg-type]

    def extend(self, findings: list[Finding]) -> None:
        for f in findings:
            self.errors += f.severity == "error"
            if len(self.items) < self.cap:
                self.items.append(f)
            else:
                self.suppressed += 1

    def result(self) -> list[Finding]:
        if self.stopped_at is not None:
            stop = Finding(
                rule="findings.stopped",
                file=self.file,
                line=self.stopped_at,
                message=f"validation stopped at line {self.stopped_at} after {self.cap} errors",
                fix="Fix the findings shown and validate again.",
            )
            return [*self.items, stop]
        if not self.suppressed:
            return list(self.items)
        more = Finding(
            rule="findings.suppressed",
            severity="error" if self.errors else "warning",
            file=self.file,
            message=f"{self.suppressed} more findings not shown",
            fix="Fix the findings shown and validate again.",
        )
        return [*self.items, more]
