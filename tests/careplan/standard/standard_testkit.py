"""Shared helpers for the tests of careplan.standard (imported by basename; pytest prepend mode)."""

from __future__ import annotations

from careplan.errors import Finding
from careplan.office import with_check_digit
from careplan.standard import write_csv
from fixtures.samples import sample_actuals_set, sample_plan_set

MANAGER = with_check_digit("131230001")  # 居宅介護支援 (43)
HELPER = with_check_digit("131170002")  # 訪問介護 (11)
MONTH = "202504"
SERIAL = "20250420093000"


def plan_set() -> dict[str, bytes]:
    return sample_plan_set(sender=MANAGER, recipient=HELPER)


def actuals_set() -> dict[str, bytes]:
    return sample_actuals_set(sender=HELPER, recipient=MANAGER)


def name_of(
    file_id: str,
    *,
    month: str | None = MONTH,
    sender: str = MANAGER,
    kind: str = "43",
    recipient: str = HELPER,
    recipient_kind: str = "11",
    serial: str = SERIAL,
) -> str:
    parts = [file_id] + ([month] if month is not None else [])
    return "_".join([*parts, sender, kind, recipient, recipient_kind, serial]) + ".CSV"


def plan_records() -> list[list[str]]:
    """The UPPLAN records of the sample set, decoded back (a valid starting point to mutate)."""
    import csv
    import io

    data = next(d for n, d in plan_set().items() if n.startswith("UPPLAN"))
    return [list(r) for r in csv.reader(io.StringIO(data.decode("cp932"), newline=""))]


def records_of(prefix: str) -> list[list[str]]:
    import csv
    import io

    data = next(d for n, d in plan_set().items() if n.startswith(prefix + "_"))
    return [list(r) for r in csv.reader(io.StringIO(data.decode("cp932"), newline=""))]


def csv_bytes(file_id: str, records: list[list[str]]) -> bytes:
    return write_csv(file_id, records)


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def rules(findings: list[Finding], severity: str | None = None) -> set[str]:
    return {f.rule for f in findings if severity is None or f.severity == severity}
