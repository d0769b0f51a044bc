"""The files of each sending unit a care-management client sends (標準仕様 2.4 (1) and the 3.4
介護予防 units), addressed from the office under test to a partner office.

2.4 units come from the seeded data set of `fixtures` (rebased onto the two offices). fixtures has
no §3.4 sets yet (issue 12 adds them), so the 介護予防 units are built here from the layouts: one
record per file, required items only, every value valid for its format. When fixtures gains them,
`yobo_unit` should defer to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from careplan.office import check_digit
from careplan.standard import parse_file_name
from careplan.standard.filename import FileName
from careplan.standard.layout import standard
from careplan.standard.writer import write_csv
from scenarios.files import rebase

Files = list[tuple[str, bytes]]
SERIAL = "20250420093000"  # ファイル連番 (作成日時) of every unit the kit builds


@dataclass(frozen=True, slots=True, kw_only=True)
class Party:
    number: str
    kind: str  # サービス種類 in file names (43 居宅介護支援, 46 介護予防支援, 11 訪問介護, …)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitKind:
    key: str
    section: str  # 標準仕様 §
    file_ids: tuple[str, ...]
    preventive: bool = False  # a 3.4 介護予防 unit (sent to a 介護予防 service office)


UNITS: Mapping[str, UnitKind] = MappingProxyType(
    {
        u.key: u
        for u in (
            UnitKind(key="plan-1-3", section="2.4 (1)①", file_ids=("UP1KYO", "UP2KYO", "UP3KYO", "UPHOSOKU")),
            UnitKind(key="plan-6-7", section="2.4 (1)②", file_ids=("UPPLAN", "UPSIKYU", "UPHOSOKU")),
            UnitKind(key="delete-plan-1", section="2.4 (1)③", file_ids=("DLT1KYO",)),
            UnitKind(key="delete-plan-6", section="2.4 (1)④", file_ids=("DLTPLAN",)),
            UnitKind(key="kihon", section="3.4 (1)", file_ids=("UPKIHON",), preventive=True),
            UnitKind(key="yobo-kihon", section="3.4 (2)", file_ids=("UPYOBO", "UPKIHON"), preventive=True),
            UnitKind(key="yobo", section="3.4 (3)", file_ids=("UPYOBO",), preventive=True),
            UnitKind(key="delete-kihon", section="3.4 (5)", file_ids=("DLTKIHON",), preventive=True),
            UnitKind(key="delete-yobo", section="3.4 (6)", file_ids=("DLTYOBO",), preventive=True),
        )
    }
)


def _renamed(name: str, sender: Party, recipient: Party) -> str:
    """The name with both offices' numbers and kinds put in (the content is rebased separately)."""
    parsed = parse_file_name(name)
    return FileName(
        file_id=parsed.file_id,
        month=parsed.month,
        sender=sender.number,
        sender_kind=sender.kind,
        recipient=recipient.number,
        recipient_kind=recipient.kind,
        serial=parsed.serial,
    ).format()


def seeded_unit(file_ids: tuple[str, ...], sender: Party, recipient: Party) -> Files:
    from fixtures.broken import unit

    files = rebase(unit(*file_ids), sender=sender.number, recipient=recipient.number)
    return [(_renamed(name, sender, recipient), data) for name, data in files]


def _value(file_id: str, no: int) -> str:
    item = standard().layouts[file_id].fields[no - 1]
    if no == 1:
        return standard().csv_version
    if item.name == "保険者番号":
        return "13101" + check_digit("13101")
    if item.name == "被保険者番号":
        return "0000012345"
    if not item.required:
        return ""
    if item.format == "YYYYMMDD":
        return "20250401"
    if item.format == "YYYYMM":
        return "202504"
    if item.choices:
        return next(iter(item.choices))
    return "テスト　花子" if "名" in item.name else "テスト"


def yobo_unit(file_ids: tuple[str, ...], sender: Party, recipient: Party) -> Files:
    """A §3.4 unit: one record per file, required items only (see the module docstring)."""
    files = []
    for file_id in file_ids:
        record = [_value(file_id, f.no) for f in standard().layouts[file_id].fields]
        name = FileName(
            file_id=file_id,
            month=None,
            sender=sender.number,
            sender_kind=sender.kind,
            recipient=recipient.number,
            recipient_kind=recipient.kind,
            serial=SERIAL,
        ).format()
        files.append((name, write_csv(file_id, [record])))
    return files


def unit_files(key: str, sender: Party, recipient: Party) -> Files:
    kind = UNITS[key]
    build = yobo_unit if kind.preventive else seeded_unit
    return build(kind.file_ids, sender, recipient)


def with_serial(files: Files, serial: str) -> Files:
    """The same files under another ファイル連番 (a new transmission of the same unit)."""
    out = []
    for name, data in files:
        out.append((dataclasses.replace(parse_file_name(name), serial=serial).format(), data))
    return out
