"""File names of the standard (レイアウト定義書 ファイル名称規約, 標準仕様 2.4/3.4).

    PREFIX[_YYYYMM]_from(10)_fromKind(2)_to(10)_toKind(2)_YYYYMMDDHHMMSS.CSV
    UPKIHON_IMAGE_from(10)_fromKind(2)_to(10)_toKind(2)_YYYYMMDDHHMMSS_枝番(4).jpg

Rules this module keeps:
1. Which prefixes carry `_YYYYMM` comes from the layout data (common.filename_grammar).
2. `parse_file_name` raises `FileNameError` (carrying findings) for a name that is not of the
   standard; `file_name_findings` returns the findings instead, including warnings (lower-case
   .csv, office-number check digits, kinds outside 標準仕様 1.3/1.4). Decision D9, D11.
3. The 14-digit timestamp is the ファイル連番 shared by every file of a sending unit (2.4).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from careplan.errors import Finding
from careplan.office import office_number_findings
from careplan.standard.layout import IMAGE_ID, standard

SECTION = "レイアウト定義書 ファイル名称規約"
_TAIL = re.compile(
    r"^(?:(?P<month>\d{6})_)?(?P<sender>[0-9A-Z]{9,10})_(?P<sender_kind>[0-9A-Z]{2})_"
    r"(?P<recipient>[0-9A-Z]{9,10})_(?P<recipient_kind>[0-9A-Z]{2})_(?P<serial>\d{14})"
    r"(?:_(?P<branch>\d{4}))?\.(?P<ext>[A-Za-z]+)$"
)


# Errors that make a name unparseable; office-number and kind findings are semantic.
_SYNTAX_RULES = frozenset(
    {
        "filename.prefix",
        "filename.prefix_misspelled",
        "filename.grammar",
        "filename.serial",
        "filename.month",
        "filename.extension",
    }
)


class FileNameError(ValueError):
    """A name that is not a standard file name; `.findings` says why."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        super().__init__("; ".join(f.message for f in findings))


@dataclass(frozen=True, slots=True, kw_only=True)
class FileName:
    """A parsed standard file name. `format()` gives the canonical spelling back."""

    file_id: str
    month: str | None  # YYYYMM (提供年月/対象年月) for the prefixes that carry it
    sender: str
    sender_kind: str
    recipient: str
    recipient_kind: str
    serial: str  # YYYYMMDDHHMMSS, the ファイル連番
    branch: str | None = None  # 枝番 of UPKIHON_IMAGE
    extension: str = ""  # as written; "" means the canonical CSV (or jpg for the image)

    def __post_init__(self) -> None:
        layout = standard().layouts.get(self.file_id)
        if layout is None:
            raise ValueError(f"unknown file id {self.file_id!r}")
        if layout.month_in_name != (self.month is not None):
            raise ValueError(f"{self.file_id}: month {'missing' if self.month is None else 'not allowed'}")
        if not self.extension:
            object.__setattr__(self, "extension", "jpg" if self.file_id == IMAGE_ID else "CSV")
        if (self.file_id == IMAGE_ID) != (self.branch is not None):
            raise ValueError(f"{self.file_id}: 枝番 only (and always) on {IMAGE_ID}")

    @property
    def unit_key(self) -> tuple[str, str, str, str, str]:
        """What all files of one sending unit share (2.4)."""
        return (self.sender, self.sender_kind, self.recipient, self.recipient_kind, self.serial)

    def format(self) -> str:
        parts = [self.file_id]
        if self.month is not None:
            parts.append(self.month)
        parts += [self.sender, self.sender_kind, self.recipient, self.recipient_kind, self.serial]
        if self.branch is not None:
            parts.append(self.branch)
        return "_".join(parts) + "." + self.extension

    def __str__(self) -> str:
        return self.format()


def split_prefix(name: str) -> tuple[str, str] | None:
    """(file id, rest after the underscore) when `name` starts with a standard prefix."""
    base = name.rsplit("/", 1)[-1]
    for prefix in standard().prefixes:
        if base.startswith(prefix + "_"):
            return prefix, base[len(prefix) + 1 :]
    return None


def _finding(rule: str, name: str, message: str, **kw: Any) -> Finding:
    return Finding(rule=rule, message=message, file=name, section=kw.pop("section", SECTION), **kw)


@lru_cache(maxsize=256)
def _real_time(serial: str) -> bool:
    """Whether `serial` is a real YYYYMMDDHHMMSS (memoised: the files of a unit share one)."""
    try:
        datetime.strptime(serial, "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1024)
def _office_number_findings(number: str, strict: bool, role: str) -> tuple[Finding, ...]:
    """office_number_findings, memoised: a unit's files name the same two offices."""
    return tuple(office_number_findings(number, strict=strict, field=role))


def _serial_findings(name: str, serial: str) -> list[Finding]:
    if not _real_time(serial):
        return [
            _finding(
                "filename.serial",
                name,
                f"ファイル連番 {serial} is not a real date and time",
                value=serial,
                expected="YYYYMMDDHHMMSS",
                fix="Use the creation time.",
            )
        ]
    return []


def _month_findings(name: str, file_id: str, month: str | None) -> list[Finding]:
    if month is None or (month == "000000" and file_id == "UPHOSOKU"):
        return []
    if not ("01" <= month[4:] <= "12"):
        return [
            _finding(
                "filename.month",
                name,
                f"YYYYMM {month} is not a real month",
                value=month,
                expected="YYYYMM (UPHOSOKU: 000000 when linked to 第1表)",
                expected_ja="YYYYMM（UPHOSOKU は第1表に紐づくとき 000000）",
                fix="Write the 対象年月 of the records.",
            )
        ]
    return []


def _extension_findings(name: str, file_id: str, ext: str) -> list[Finding]:
    wanted = ("jpg", "JPG") if file_id == IMAGE_ID else ("CSV",)
    if ext in wanted:
        return []
    if ext.upper() == wanted[-1].upper():
        return [
            _finding(
                "filename.extension_case",
                name,
                f"extension .{ext}: the standard writes .{wanted[-1]}",
                severity="warning",
                value=ext,
                expected=wanted[-1],
                fix=f"Rename to .{wanted[-1]}.",
            )
        ]
    return [
        _finding(
            "filename.extension",
            name,
            f"extension .{ext} for {file_id}",
            value=ext,
            expected=" or ".join(wanted),
            expected_ja=" または ".join(wanted),
            fix=f"Use .{wanted[-1]}.",
        )
    ]


def _office_findings(name: str, parsed: FileName, strict: bool) -> list[Finding]:
    found: list[Finding] = []
    for role, number in (("送信元事業所番号", parsed.sender), ("送信先事業所番号", parsed.recipient)):
        for f in _office_number_findings(number, strict, role):
            fix = f.fix
            if len(number) == 9:
                fix = "The 2.4/3.4 examples use 9 digits; the annex pattern needs 10 characters."
            found.append(
                _finding(
                    f.rule,
                    name,
                    f.message,
                    severity=f.severity,
                    field_name=role,
                    value=number,
                    expected=f.expected,
                    expected_ja=f.expected_ja,
                    section=f"{SECTION}; {f.section}",
                    fix=fix,
                )
            )
    if parsed.sender == parsed.recipient:
        found.append(
            _finding(
                "filename.same_office",
                name,
                "sender and recipient have the same 事業所番号",
                value=parsed.sender,
                section="R4.8",
                fix="Address the file to the other office.",
            )
        )
    return found


def kind_findings(name: str, parsed: FileName) -> list[Finding]:
    """Service kinds in the name against 標準仕様 1.3/1.4 (decision D11)."""
    std = standard()
    downstream = parsed.file_id not in ("UPJSK", "DLTJSK")
    service_kind = parsed.recipient_kind if downstream else parsed.sender_kind
    manager_kind = parsed.sender_kind if downstream else parsed.recipient_kind
    found: list[Finding] = []
    if service_kind in std.kinds_out_of_scope:
        found.append(
            _finding(
                "filename.kind_out_of_scope",
                name,
                f"サービス種類コード {service_kind} ({std.kinds_out_of_scope[service_kind]}) "
                "is outside the scope of the data linkage",
                value=service_kind,
                section="標準仕様 1.3/1.4",
                fix="Do not send this service kind.",
            )
        )
    elif service_kind not in std.kinds_in_scope:
        found.append(
            _finding(
                "filename.kind_unknown",
                name,
                f"サービス種類コード {service_kind} is not a service kind of 標準仕様 1.3/1.4",
                severity="warning",
                value=service_kind,
                section="標準仕様 1.3/1.4",
                fix="Check the service-office side kind code.",
            )
        )
    if manager_kind not in std.care_manager_kinds and manager_kind not in std.kinds_in_scope:
        found.append(
            _finding(
                "filename.kind_manager",
                name,
                f"サービス種類コード {manager_kind} is not 43 居宅介護支援 or 46 介護予防支援",
                severity="warning",
                value=manager_kind,
                section="標準仕様 1.3/1.4",
                fix="Check the care-management side kind code.",
            )
        )
    return found


# A name with the five standard parts after a prefix that is not the standard's (decision D22).
_LOOKALIKE = re.compile(
    r"^(?P<prefix>[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z][A-Za-z0-9]*)*)_(?P<tail>" + _TAIL.pattern[1:-1] + ")$"
)


def misspelled(name: str) -> tuple[Finding, FileName | None] | None:
    """When `name` has the standard's parts but a prefix that is not one (a letter missing, extra
    or swapped): the finding naming it with the nearest standard prefix, and the name read with
    that prefix (None when no prefix is near or the name still does not parse). None otherwise."""
    if split_prefix(name) is not None:
        return None
    match = _LOOKALIKE.match(name.rsplit("/", 1)[-1])
    if match is None:
        return None
    prefix = match["prefix"]
    near = difflib.get_close_matches(prefix.upper(), standard().prefixes, n=1, cutoff=0.6)
    corrected: FileName | None = None
    if near:
        candidate, found = file_name_findings(f"{near[0]}_{match['tail']}")
        corrected = candidate if not [f for f in found if f.rule in _SYNTAX_RULES] else None
    guess_ja = f"「{near[0]}」の誤りではありませんか。" if near else ""
    guess_en = f"; did you mean {near[0]}?" if near else ""
    finding = _finding(
        "filename.prefix_misspelled",
        name,
        f"ファイル名の先頭「{prefix}」は標準仕様のファイル名にありません。{guess_ja}",
        message_en=f"file name prefix {prefix!r} is not a prefix of the standard{guess_en}",
        value=prefix,
        expected=near[0] if near else ", ".join(sorted(standard().prefixes)),
        fix=f"ファイル名を {corrected} にしてください。"
        if corrected
        else "レイアウト定義書のファイル名称規約どおりの名前にしてください。",
        fix_en=f"Rename the file to {corrected}." if corrected else "Name the file as レイアウト定義書 prescribes.",
    )
    return finding, corrected


def file_name_findings(name: str, *, strict: bool = False) -> tuple[FileName | None, list[Finding]]:
    """Parse `name` and every problem with it (errors and warnings)."""
    split = split_prefix(name)
    typo = misspelled(name) if split is None else None
    if typo is not None:
        return None, [typo[0]]
    if split is None:
        return None, [
            _finding(
                "filename.prefix",
                name,
                "not a file name of the standard",
                expected="PREFIX[_YYYYMM]_from_kind_to_kind_YYYYMMDDHHMMSS.CSV",
                expected_ja="種別[_YYYYMM]_送信元_種類_送信先_種類_YYYYMMDDHHMMSS.CSV",
                fix="Name the file as レイアウト定義書 prescribes.",
            )
        ]
    file_id, rest = split
    match = _TAIL.match(rest)
    layout = standard().layout(file_id)
    if (
        match is None
        or (match["month"] is not None) != layout.month_in_name
        or ((match["branch"] is not None) != (file_id == IMAGE_ID))
    ):
        return None, [
            _finding(
                "filename.grammar",
                name,
                f"{file_id} file name does not follow the pattern",
                value=name,
                expected=_pattern(file_id),
                fix="Rename the file after the pattern.",
            )
        ]
    parsed = FileName(
        file_id=file_id,
        month=match["month"],
        sender=match["sender"],
        sender_kind=match["sender_kind"],
        recipient=match["recipient"],
        recipient_kind=match["recipient_kind"],
        serial=match["serial"],
        branch=match["branch"],
        extension=match["ext"],
    )
    found = _serial_findings(name, parsed.serial) + _month_findings(name, file_id, parsed.month)
    found += _extension_findings(name, file_id, parsed.extension)
    found += _office_findings(name, parsed, strict) + kind_findings(name, parsed)
    return parsed, found


def parse_file_name(name: str) -> FileName:
    """The parsed name; raises FileNameError if it is not a standard name (warnings ignored)."""
    parsed, found = file_name_findings(name)
    errors = [f for f in found if f.severity == "error" and f.rule in _SYNTAX_RULES]
    if parsed is None or errors:
        raise FileNameError(errors)
    return parsed


def _pattern(file_id: str) -> str:
    layout = standard().layout(file_id)
    month = "_YYYYMM" if layout.month_in_name else ""
    tail = "_枝番(4).jpg" if file_id == IMAGE_ID else ".CSV"
    return f"{file_id}{month}_送信元(10)_種類(2)_送信先(10)_種類(2)_YYYYMMDDHHMMSS{tail}"
