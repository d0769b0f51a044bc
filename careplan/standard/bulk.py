"""Bulk send (一括送信, R4.3): sort many files into transmissions by destination and 連番.

Rules this module keeps (decision D18):
1. Files are grouped by (sender, sender kind, recipient, recipient kind, ファイル連番); a group
   whose names form a sending unit within the limits becomes one transmission.
2. Every file that cannot be placed is reported with one finding saying why: a zip archive, a
   name without a destination (attachments), a malformed name, another sender, a duplicate, a
   group that is not a sending unit or breaks a limit, or a transmission beyond the 50th. A
   name with a misspelled prefix is placed as the file it was meant to be (decision D22); the
   transmission's check then refuses it by name.
3. Transmissions are ordered by recipient, then 連番 (processing order, 標準仕様 2.5).
Only names and sizes are read here; check_transmission judges the content of each transmission.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from careplan.errors import Finding
from careplan.standard.content import is_zip, zip_finding
from careplan.standard.filename import FileName, file_name_findings, misspelled
from careplan.standard.layout import standard
from careplan.standard.transmission import limit_findings
from careplan.standard.units import unit_findings

Files = list[tuple[str, bytes]]
UnitKey = tuple[str, str, str, str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkPlan:
    """Transmissions as (recipient 事業所番号, files), and the files left out with the reason; in a
    plan not `limited`, the warning of a sender's first transmission past a bulk send's limit, by
    its index in `transmissions`."""

    transmissions: list[tuple[str, Files]] = field(default_factory=list)
    unplaced: list[tuple[str, Finding]] = field(default_factory=list)
    past_limit: dict[int, Finding] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.unplaced


def _unplaceable(name: str, data: bytes, sender: str | None) -> tuple[FileName | None, Finding | None]:
    if is_zip(data):
        return None, zip_finding(name, data)
    parsed, found = file_name_findings(name)
    typo = misspelled(name) if parsed is None else None
    if typo is not None and typo[1] is not None:
        # A misspelled prefix: sorted as the file it was meant to be, so that its unit forms and
        # check_transmission reports the name as the cause (decision D22).
        parsed, found = typo[1], []
    errors = [f for f in found if f.severity == "error"]
    if parsed is None:
        first = errors[0]
        return None, Finding(
            rule="bulk.no_destination",
            file=name,
            message=f"the destination cannot be read from the name ({first.message})",
            value=name,
            expected=first.expected,
            expected_ja=first.expected_ja,
            section="R4.3 (decision D18)",
            fix="Bulk send sorts standard files only; send other documents on their own to a chosen office.",
        )
    if errors:
        return None, errors[0]
    if sender is not None and parsed.sender != sender:
        return None, Finding(
            rule="unit.sender_mismatch",
            file=name,
            message="the file names another sender",
            value=parsed.sender,
            expected=sender,
            section="R4.3",
            fix="Bulk-send your own office's files only.",
        )
    return parsed, None


def _groups(
    files: Sequence[tuple[str, bytes]], sender: str | None, unplaced: list[tuple[str, Finding]]
) -> dict[UnitKey, list[tuple[str, bytes, FileName]]]:
    groups: dict[UnitKey, list[tuple[str, bytes, FileName]]] = {}
    for name, data in files:
        parsed, problem = _unplaceable(name, data, sender)
        if problem is not None or parsed is None:
            unplaced.append((name, problem))  # type: ignore[arg-type]
            continue
        group = groups.setdefault(parsed.unit_key, [])
        if any((p.file_id, p.branch) == (parsed.file_id, parsed.branch) for _, _, p in group):
            unplaced.append(
                (
                    name,
                    Finding(
                        rule="unit.duplicate_file",
                        file=name,
                        message=f"a second {parsed.file_id} with the same 連番 and destination",
                        section="標準仕様 2.4",
                        fix="Keep one file per kind and 連番.",
                    ),
                )
            )
            continue
        group.append((name, data, parsed))
    return groups


def sort_bulk(files: Sequence[tuple[str, bytes]], *, sender: str | None = None, limited: bool = True) -> BulkPlan:
    """Group `files` into transmissions by destination and 連番; report what cannot be placed.
    `limited=False` places a sender's transmissions beyond the limit of one bulk send too, the first
    of them warned (`past_limit`): a check of files, not a send (`careplan validate`)."""
    unplaced: list[tuple[str, Finding]] = []
    placed: list[tuple[UnitKey, Files]] = []
    for key, group in _groups(files, sender, unplaced).items():
        pairs: Files = [(n, d) for n, d, _ in group]
        problems = [
            f for f in unit_findings([(n, p) for n, _, p in group]) + limit_findings(pairs) if f.severity == "error"
        ]
        if problems:
            unplaced += [(n, problems[0]) for n, _ in pairs]
        else:
            placed.append((key, pairs))
    placed.sort(key=lambda item: (item[0][2], item[0][4], item[0][3]))
    # A bulk send is one office's (R4.3): files of several senders (a month's folder given to
    # `careplan validate`) are as many bulk sends, each held to the limit.
    limit, counted = standard().limits.max_transmissions, Counter[str]()
    total = Counter(key[0] for key, _ in placed)
    kept: list[tuple[UnitKey, Files]] = []
    past_limit: dict[int, Finding] = {}
    for key, pairs in placed:
        counted[key[0]] += 1
        if counted[key[0]] <= limit or not limited:
            if counted[key[0]] == limit + 1:
                past_limit[len(kept)] = _past_the_limit(key[0], total[key[0]], limit)
            kept.append((key, pairs))
            continue
        unplaced += [
            (
                n,
                Finding(
                    rule="bulk.too_many_transmissions",
                    file=n,
                    message=f"more than {limit} transmissions in one bulk send",
                    value=key[0],
                    expected=f"≤ {limit}",
                    expected_ja=f"一括送信1回{limit}件以内",
                    section="R4.3",
                    fix="Send the rest in another bulk send.",
                ),
            )
            for n, _ in pairs
        ]
    return BulkPlan(transmissions=[(key[2], pairs) for key, pairs in kept], unplaced=unplaced, past_limit=past_limit)


def _past_the_limit(sender: str, total: int, limit: int) -> Finding:
    """The warning of a sender's first transmission past a bulk send's limit: the files are fine,
    the sender has to send them in several bulk sends (R4.3)."""
    sends = -(-total // limit)
    return Finding(
        rule="bulk.too_many_transmissions",
        severity="warning",
        value=sender,
        expected=f"≤ {limit}",
        expected_ja=f"一括送信1回{limit}件以内",
        section="R4.3",
        message=f"送信元 {sender} の送信は{total}件で、一括送信1回の上限{limit}件を超えます"
        f"（この送信から先は2回目以降の一括送信になります）。",
        fix=f"{limit}件以下ずつ、{sends}回に分けて一括送信してください。",
        message_en=f"sender {sender} has {total} transmissions, more than {limit} in one bulk"
        " send (this one and those after it go in a later bulk send)",
        fix_en=f"Send them in {sends} bulk sends of at most {limit}.",
    )
