"""Files judged as the hub would judge them, before any send: what `careplan validate` prints and
`careplan conformance csv` measures, from the same entries.

The files are sorted like a bulk send (`sort_bulk`, each sender's files one bulk send, none left
out for the bulk limit: the first transmission past it is warned instead). Each transmission is
checked as the hub checks one (`check_transmission`), a document outside the standard on its own
(as an attachment), and a file that cannot be placed gets the reason and, when it is a CSV of
the standard, its own format findings (an office that fixes only the reason meets them next).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from careplan.errors import CareplanError, Finding
from careplan.standard.bulk import sort_bulk
from careplan.standard.content import Kind, classify
from careplan.standard.filename import split_prefix
from careplan.standard.transmission import check_transmission, refusal
from careplan.standard.validate import validate_csv


@dataclass(slots=True, kw_only=True)
class Entry:
    """One part of a judgement: a transmission, an attachment, or a file that cannot be placed."""

    kind: str  # "transmission", "attachment" or "unplaced"
    files: list[str]
    recipient: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def error(self) -> CareplanError | None:
        return refusal(self.findings)

    def to_json(self) -> dict[str, object]:
        error = self.error
        return {
            "kind": self.kind,
            "recipient": self.recipient,
            "files": self.files,
            "refusal": error.to_wire() if error else None,
            "findings": [f.to_dict() for f in self.findings],
        }


def _unplaced_entry(name: str, data: bytes, why: Finding, strict: bool) -> Entry:
    kind, _ = classify(name, data)
    if why.rule == "bulk.no_destination" and split_prefix(name) is None and kind is not Kind.ZIP:
        return Entry(kind="attachment", files=[name], findings=check_transmission([(name, data)], strict=strict))
    own = validate_csv(name, data, strict=strict) if kind is Kind.STANDARD else []
    return Entry(kind="unplaced", files=[name], findings=[why, *own])


def judge_files(files: Sequence[tuple[str, bytes]], *, strict: bool = False) -> list[Entry]:
    """The entries for these files, transmissions first in the order a bulk send makes them."""
    plan = sort_bulk(files, limited=False)
    entries = [
        Entry(
            kind="transmission",
            recipient=recipient,
            files=[n for n, _ in group],
            findings=check_transmission(group, recipient=recipient, strict=strict)
            + ([plan.past_limit[index]] if index in plan.past_limit else []),
        )
        for index, (recipient, group) in enumerate(plan.transmissions)
    ]
    data = dict(files)
    entries += [_unplaced_entry(name, data[name], why, strict) for name, why in plan.unplaced]
    return entries
