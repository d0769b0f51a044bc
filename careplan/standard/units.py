"""Sending units (標準仕様 2.4/3.4) and the links between their files (2.3/3.3), decision D10.

Rules this module keeps:
1. `unit_findings` looks at names only (so the bulk sorter can use it without reading content):
   one ファイル連番 and one sender/recipient pair, each file of one sending unit exactly once,
   companions at most once (images once per 枝番), months consistent across the unit.
2. `relation_findings` looks at keys collected by the validator: every child record's key
   exists in its parent file (7表 and 補足 to 6表; 2表, 3表 and 補足 to 1表; 別表 to their parent).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from careplan.errors import Finding
from careplan.standard.filename import FileName
from careplan.standard.layout import IMAGE_ID, SendingUnit, standard
from careplan.standard.validate import CsvReport

MAX_RELATION_FINDINGS = 20


def _finding(rule: str, name: str | None, message: str, **kw: Any) -> Finding:
    return Finding(rule=rule, file=name, message=message, section=kw.pop("section", "標準仕様 2.4/3.4"), **kw)


def match_unit(ids: set[str]) -> SendingUnit | None:
    """The sending unit formed by these file ids (companions optional), if any."""
    for unit in standard().units:
        if unit.files <= ids <= unit.files | unit.companions:
            return unit
    return None


def _describe(unit: SendingUnit, ids: set[str], *, japanese: bool = False) -> str:
    missing = ", ".join(sorted(unit.files - ids))
    extra = ", ".join(sorted(ids - unit.files - unit.companions))
    text = f"{unit.section} {'+'.join(sorted(unit.files))}"
    if japanese:
        return text + (f"（不足: {missing}）" if missing else "") + (f"（単位外: {extra}）" if extra else "")
    return text + (f" (missing {missing})" if missing else "") + (f" (not part of it: {extra})" if extra else "")


def _combination(names: Sequence[tuple[str, FileName]]) -> list[Finding]:
    ids = {fn.file_id for _, fn in names}
    if match_unit(ids) is not None:
        return []
    near = [u for u in standard().units if u.files & ids] or list(standard().units)
    return [
        _finding(
            "unit.combination",
            None,
            f"files {', '.join(sorted(ids))} do not form a sending unit of the standard",
            value="+".join(sorted(ids)),
            expected="; ".join(_describe(u, ids) for u in near[:4]),
            expected_ja="、".join(_describe(u, ids, japanese=True) for u in near[:4]),
            fix="Send the files of one sending unit together, each once, all with the same ファイル連番.",
        )
    ]


def _duplicates(names: Sequence[tuple[str, FileName]]) -> list[Finding]:
    counts = Counter((fn.file_id, fn.branch) for _, fn in names)
    return [
        _finding(
            "unit.duplicate_file",
            name,
            f"{fn.file_id} appears more than once",
            value=fn.file_id,
            expected="each file of the unit once",
            expected_ja="送信単位の各ファイルを1つずつ",
            fix="Send one file per kind; one file holds all users.",
        )
        for name, fn in names
        if counts[(fn.file_id, fn.branch)] > 1
    ]


def _keys(names: Sequence[tuple[str, FileName]], sender: str | None, recipient: str | None) -> list[Finding]:
    found: list[Finding] = []
    first = names[0][1]
    for name, fn in names:
        if fn.unit_key != first.unit_key:
            found.append(
                _finding(
                    "unit.serial_mismatch",
                    name,
                    "files of one transmission must share ファイル連番, sender and recipient",
                    value="_".join(fn.unit_key),
                    expected="_".join(first.unit_key),
                    fix="Give every file of the unit the same from/to parts and the same 14-digit timestamp.",
                )
            )
        if sender is not None and fn.sender != sender:
            found.append(
                _finding(
                    "unit.sender_mismatch",
                    name,
                    "the file name names another sender than the signed manifest",
                    value=fn.sender,
                    expected=sender,
                    fix="Send files of your own office only.",
                )
            )
        if recipient is not None and fn.recipient != recipient:
            found.append(
                _finding(
                    "unit.recipient_mismatch",
                    name,
                    "the file name names another recipient than the transmission",
                    value=fn.recipient,
                    expected=recipient,
                    fix="Send the file to the office it names.",
                )
            )
    return found


def _months(names: Sequence[tuple[str, FileName]]) -> list[Finding]:
    by_id = {fn.file_id: (name, fn) for name, fn in names}
    found: list[Finding] = []
    plan = by_id.get("UPPLAN")
    for child in ("UPSIKYU", "UPHOSOKU"):
        if plan and child in by_id and by_id[child][1].month != plan[1].month:
            found.append(
                _finding(
                    "unit.month_mismatch",
                    by_id[child][0],
                    f"{child} month differs from UPPLAN's",
                    value=by_id[child][1].month,
                    expected=plan[1].month,
                    section="標準仕様 2.3",
                    fix="Link 補足/第7表 to the 第6表 month.",
                )
            )
    if "UP1KYO" in by_id and "UPHOSOKU" in by_id and by_id["UPHOSOKU"][1].month != "000000":
        found.append(
            _finding(
                "unit.hosoku_month",
                by_id["UPHOSOKU"][0],
                "UPHOSOKU linked to 第1表 needs 提供年月 000000",
                value=by_id["UPHOSOKU"][1].month,
                expected="000000",
                section="レイアウト定義書 利用者補足情報 ファイル名",
                fix="Name the UPHOSOKU file with 提供年月 000000 when it goes with 第1表/第2表 (レイアウト定義書).",
            )
        )
    return found


def unit_findings(
    names: Sequence[tuple[str, FileName]], *, sender: str | None = None, recipient: str | None = None
) -> list[Finding]:
    """Everything wrong with these parsed names as one sending unit (names only)."""
    if not names:
        return []
    return _keys(names, sender, recipient) + _duplicates(names) + _combination(names) + _months(names)


def _orphaned(key: tuple[str, ...], rel_keys: tuple[str, ...], parent: CsvReport) -> tuple[str, str] | None:
    """Why `key` is missing from `parent` when the parent's own defect explains it: (ja, en).

    A record of the parent that could not be read (field count, quoting, encoding, the findings
    cap) takes its key with it; the child records that depend on it are orphaned by that defect,
    which is the root cause to report and refuse for (decision D14).
    """
    line = parent.lost_keys.get(rel_keys, {}).get(key)
    if line is not None:
        return (f"{parent.name} の {line}行目が読めないため", f"line {line} of {parent.name} could not be read")
    if parent.lost or not parent.complete:
        return (f"{parent.name} に読めないレコードがあるため", f"{parent.name} has records that could not be read")
    return None


def _unread(parent: CsvReport, child: CsvReport, pid: str, rel_keys: tuple[str, ...], section: str) -> Finding:
    """One finding for all the keys of `child` when `parent` gave no record at all: it could not be
    read (a file saved as Unicode, a document under a standard name) or it is empty. Each record
    would be orphaned alike, by the one defect named before it (D14), and a file of 20 such
    findings says less than one."""
    lines = child.keys[rel_keys]
    names = "・".join(rel_keys)
    why, why_en = (
        ("を読めなかったため", "could not be read")
        if not parent.complete
        else ("にレコードが1件もないため", "has no record")
    )
    return Finding(
        rule="relation.orphaned",
        message=(
            f"{parent.name} {why}、このファイルのレコードの親（{pid}）を確かめられません（{names}が{len(lines)}組）。"
        ),
        message_en=(
            f"{parent.name} {why_en}: the parents ({pid}) of this file's records "
            f"({len(lines)} distinct {'/'.join(rel_keys)}) cannot be checked"
        ),
        file=child.name,
        value=f"{len(lines)}組",
        expected=f"{pid} records in {parent.name}",
        expected_ja=f"{parent.name} の {pid} のレコード",
        section=f"標準仕様 {section}",
        fix=f"{parent.name} を直して、このファイルと一緒に送り直してください（このファイルは直す必要はありません）。",
        fix_en=f"Fix {parent.name} and send it again with this file; this file itself needs no change.",
    )


def _missing(rel_keys: tuple[str, ...], parent: CsvReport, child: CsvReport, section: str) -> list[Finding]:
    parent_keys = parent.keys.get(rel_keys, {})
    pid = parent.file_name.file_id if parent.file_name else "parent"
    if parent.records == 0 and not parent.lost and child.keys.get(rel_keys):  # unreadable or empty
        return [_unread(parent, child, pid, rel_keys, section)]
    names = "・".join(rel_keys)
    found: list[Finding] = []
    for key, line in child.keys.get(rel_keys, {}).items():
        if key in parent_keys or len(found) >= MAX_RELATION_FINDINGS:
            continue
        cause = _orphaned(key, rel_keys, parent)
        if cause is not None:  # a consequence of the parent's defect (D14)
            rule, message, message_en = (
                "relation.orphaned",
                f"{cause[0]}、このレコードの親（{pid}）が見つかりません（{names}）。",
                (f"{cause[1]}: this record's parent ({pid}, {'/'.join(rel_keys)}) is not found"),
            )
            fix = f"{parent.name} の読めないレコードを直してください（このレコードは直す必要はありません）。"
            fix_en = f"Fix the unreadable record of {parent.name}; this record itself needs no change."
        else:
            rule, message = "relation.missing_parent", f"{pid} に同じ{names}のレコードがありません。"
            message_en = f"no {pid} record with this {'/'.join(rel_keys)}"
            fix = f"このレコードが従属する {pid} のレコードを {parent.name} に含めてください。"
            fix_en = f"Send the {pid} record this record depends on."
        found.append(
            Finding(
                rule=rule,
                message=message,
                message_en=message_en,
                file=child.name,
                line=line,
                value="/".join(key),
                expected=f"a key present in {parent.name}",
                expected_ja=f"{parent.name} にあるキー",
                section=f"標準仕様 {section}",
                fix=fix,
                fix_en=fix_en,
            )
        )
    return found


def _images(reports: Sequence[CsvReport]) -> list[Finding]:
    kihon = [r for r in reports if r.file_name and r.file_name.file_id == "UPKIHON"]
    sent = {r.name for r in reports if r.file_name and r.file_name.file_id == IMAGE_ID}
    wanted = set().union(*(r.images for r in kihon)) if kihon else set()
    return [
        Finding(
            rule="relation.image_missing",
            severity="warning",
            file=kihon[0].name,
            message=f"家族構成 画像ファイル {name} is not in the transmission",
            value=name,
            section="レイアウト定義書 利用者基本情報 No.62",
            fix="Send the image with the UPKIHON file.",
        )
        for name in sorted(wanted - sent)
    ]


def relation_findings(reports: Sequence[CsvReport]) -> list[Finding]:
    """Child keys that have no parent record, and missing family images."""
    by_id = {r.file_name.file_id: r for r in reports if r.file_name is not None}
    found: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for rel in standard().relations:
        parent = by_id.get(rel.parent)
        for child_id in rel.children:
            child = by_id.get(child_id)
            if parent is None or child is None or (rel.parent, child_id) in seen:
                continue
            seen.add((rel.parent, child_id))
            found += _missing(rel.keys, parent, child, rel.section)
    return found + _images(reports)
