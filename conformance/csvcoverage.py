"""`careplan conformance csv DIR --report DIR`: a vendor's CSV export judged by the validator and
measured against the standard — which file kinds, sending units, items and code values it
exercised and which it never did. The files are judged as `careplan validate` judges them
(`careplan.standard.judged`: sorted like a bulk send, each transmission checked as the hub would
check it, a file that cannot be placed with its own format findings too), and every record is
read for coverage.

Coverage counts an item as exercised when some record has a value in it, and a code value when
some record carries it. Values from the files never appear in the report, only item numbers,
names and the standard's own code values: a finding is listed by its place (file, line, item),
rule and expectation, and its texts are the finding's own only when it carries no value from a
record; one that does is told in its rule's words (`careplan.findings_ja`), as the hub's audit
tells refusals. `careplan validate` shows the values.
"""

from __future__ import annotations

import html
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.cells import cell_len

from careplan.errors import Finding, Lang
from careplan.findings_ja import finding_text, rule_ja
from careplan.folding import fold
from careplan.standard import parse_file_name, standard
from careplan.standard.filename import FileNameError
from careplan.standard.judged import judge_files
from careplan.standard.layout import IMAGE_ID
from careplan.standard.reader import read_records
from careplan.standard.sink import FindingSink


@dataclass(slots=True)
class Usage:
    files: Counter[str] = field(default_factory=Counter)  # file id → files
    units: Counter[str] = field(default_factory=Counter)  # 標準仕様 § → transmissions
    items: dict[str, set[int]] = field(default_factory=dict)  # file id → item Nos. with a value
    codes: dict[tuple[str, int], set[str]] = field(default_factory=dict)  # (file id, No.) → code values seen


def _read(folder: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]


def _record_usage(name: str, data: bytes, usage: Usage) -> None:
    try:
        file_id = parse_file_name(name).file_id
    except Exception:  # an attachment or a name outside the standard: nothing to measure
        return
    usage.files[file_id] += 1
    if file_id == IMAGE_ID:
        return
    layout = standard().layouts[file_id]
    filled = usage.items.setdefault(file_id, set())
    for record in read_records(data, FindingSink(name, 0)):
        for item, value in zip(layout.fields, record.fields, strict=False):
            if value:
                filled.add(item.no)
                if item.choices is not None:
                    usage.codes.setdefault((file_id, item.no), set()).add(value)


def _units_of(names: Sequence[str]) -> list[str]:
    """The sending units these files make; none when one of them has no name of the standard."""
    try:
        ids = {parse_file_name(n).file_id for n in names}
    except FileNameError:
        return []
    return [u.section for u in standard().units if u.files <= ids <= u.files | u.companions]


def measure(files: Sequence[tuple[str, bytes]]) -> dict[str, Any]:
    """The coverage record (JSON-ready) of an export's files."""
    usage = Usage()
    entries = judge_files(files)
    transmissions = [entry for entry in entries if entry.kind == "transmission"]
    for entry in transmissions:
        for section in _units_of(entry.files):
            usage.units[section] += 1
    for name, data in files:
        _record_usage(name, data, usage)
    return _record(files, transmissions, usage, [f for entry in entries for f in entry.findings])


LISTED = 500  # findings listed in the report (all are counted)
PLACE = ("rule", "severity", "file", "line", "field_no", "field_name", "expected", "expected_ja", "section")


def listed(finding: Finding) -> dict[str, object]:
    """A finding as the report lists it: its place, rule and expectation, and its texts in Japanese
    first (`message_ja`, `fix_ja`) and English — its own when it carries no value from a record,
    else its rule's (the value withheld: `careplan validate` shows it)."""
    said = finding.to_dict()
    row = {key: said[key] for key in PLACE if key in said}
    if finding.value is None or finding.line is None:
        (row["message_ja"], row["fix_ja"]), (row["message"], row["fix"]) = (
            finding_text(said, Lang.JA),
            finding_text(said, Lang.EN),
        )
    else:
        what, fix = rule_ja(finding.rule) or ("標準仕様に合わない値があります。", "")
        row["message_ja"], row["fix_ja"] = what + "（値は載せていません）", fix
        row["message"] = f"{finding.field_name or 'a value'} breaks {finding.rule} (value withheld)"
    return {key: value for key, value in row.items() if value not in (None, "")}


def _record(
    files: Sequence[tuple[str, bytes]], transmissions: Sequence[Any], usage: Usage, findings: Sequence[Finding]
) -> dict[str, Any]:
    std = standard()
    layouts = {fid: layout for fid, layout in std.layouts.items() if layout.is_csv}
    items = {
        fid: {
            "filled": sorted(usage.items.get(fid, set())),
            "never": [f"{f.no} {f.name}" for f in layout.fields if f.no not in usage.items.get(fid, set())],
            "total": len(layout.fields),
        }
        for fid, layout in layouts.items()
        if fid in usage.files
    }
    codes = {
        f"{fid} No.{f.no} {f.name}": {
            "seen": sorted(usage.codes.get((fid, f.no), set()) & set(f.choices)),
            "never": sorted(set(f.choices) - usage.codes.get((fid, f.no), set())),
        }
        for fid, layout in layouts.items()
        if fid in usage.files
        for f in layout.fields
        if f.choices is not None
    }
    return {
        "files": len(files),
        "transmissions": len(transmissions),
        "file_kinds": {"seen": dict(usage.files), "never": sorted(set(std.layouts) - set(usage.files))},
        "units": {"seen": dict(usage.units), "never": [u.section for u in std.units if u.section not in usage.units]},
        "items": items,
        "codes": codes,
        "findings": {
            "errors": sum(f.severity == "error" for f in findings),
            "warnings": sum(f.severity != "error" for f in findings),
            "list": [listed(f) for f in findings[:LISTED]],
        },
    }


_CSS = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}"
)


def _e(value: object) -> str:
    return "—" if value is None else html.escape(str(value))


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + f"</tr>{cells}</table>"


def to_html(record: Mapping[str, Any]) -> str:
    kinds = record["file_kinds"]
    units = record["units"]
    parts = [
        f"<p>{record['files']} ファイル・送信 {record['transmissions']} 件、"
        f"エラー {record['findings']['errors']} 件・警告 {record['findings']['warnings']} 件"
        f" / {record['files']} files, {record['transmissions']} transmissions; "
        f"findings: {record['findings']['errors']} errors, {record['findings']['warnings']} warnings</p>",
        "<h2>ファイル種別 / File kinds</h2>",
        _table(["ファイル / file", "ファイル数 / files"], sorted(kinds["seen"].items())),
        f"<p>一度も使われていない / never: {_e(', '.join(kinds['never']) or '—')}</p>",
        "<h2>送信単位 / Sending units (標準仕様 2.4 / 3.4)</h2>",
        _table(["§", "送信数 / transmissions"], sorted(units["seen"].items())),
        f"<p>一度も使われていない / never: {_e(', '.join(units['never']) or '—')}</p>",
        "<h2>項目 / Items</h2>",
        _table(
            ["ファイル / file", "記入あり / filled", "一度も記入なし / never filled"],
            [(fid, f"{len(i['filled'])}/{i['total']}", ", ".join(i["never"])) for fid, i in record["items"].items()],
        ),
        "<h2>コード値 / Code values</h2>",
        _table(
            ["項目 / item", "使用 / seen", "未使用 / never"],
            [(k, " ".join(v["seen"]), " ".join(v["never"])) for k, v in record["codes"].items()],
        ),
        "<h2>指摘 / Findings</h2>",
        "<p>ファイルの値は載せていません（値と場所は careplan validate で確かめられます）"
        " / values from the files are not shown (careplan validate shows them)</p>",
        _table(
            [
                "重大度 / severity",
                "ファイル / file",
                "行 / line",
                "項目 / item",
                "規則 / rule",
                "内容 / message",
                "対処 / fix",
            ],
            [
                (
                    SEVERITY.get(str(f.get("severity")), f.get("severity")),
                    f.get("file"),
                    f.get("line"),
                    f.get("field_name"),
                    f.get("rule"),
                    f.get("message_ja"),
                    f.get("fix_ja"),
                )
                for f in record["findings"]["list"]
            ],
        ),
    ]
    return (
        '<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>CSV出力の網羅性 / CSV coverage</title>'
        f"<style>{_CSS}</style></head><body><h1>CSV出力の網羅性 / CSV export coverage</h1>"
        f"{''.join(parts)}</body></html>"
    )


SEVERITY = {"error": "エラー / error", "warning": "警告 / warning"}
WIDTH = 80


def by_rule(record: Mapping[str, Any], folder: Path) -> list[str]:
    """The findings for a terminal, one block a rule (errors first, the most frequent first): its
    count, rule and what it means in Japanese, within WIDTH columns; then where the places and
    values are shown. Nothing when there are none."""
    listed_ = record["findings"]["list"]
    if not listed_:
        return []
    counts = Counter((f["severity"] != "error", f["rule"]) for f in listed_)
    texts = {f["rule"]: f.get("message_ja", "") for f in reversed(listed_)}
    lines = ["指摘（規則ごと） / findings by rule:"]
    for (warning, rule), count in sorted(counts.items(), key=lambda item: (item[0][0], -item[1], item[0][1])):
        lines.append(f"  {'警告' if warning else 'エラー'} {count}件  {rule}")
        what = (rule_ja(rule) or (texts[rule], ""))[0]
        lines += ["      " + piece for piece in fold(what, WIDTH - 6)]
    if len(listed_) < record["findings"]["errors"] + record["findings"]["warnings"]:
        lines.append(f"  （最初の {len(listed_)} 件 / the first {len(listed_)}）")
    command = f"  careplan validate {folder}"  # a path is never cut: too long, it goes whole below
    lines.append("場所と値は次で確かめられます / each place and value:")
    lines += [command] if cell_len(command) <= WIDTH else ["  careplan validate", f"    {folder}"]
    return lines


def main(folder: Path, report: Path) -> int:
    if not folder.is_dir():
        print(f"careplan conformance csv: {folder} はフォルダではありません / is not a folder", file=sys.stderr)
        return 2
    record = measure(_read(folder))
    report.mkdir(parents=True, exist_ok=True)
    (report / "csv-coverage.json").write_text(json.dumps(record, ensure_ascii=False, indent=1), "utf-8")
    (report / "csv-coverage.html").write_text(to_html(record), "utf-8")
    files, kinds, units = record["files"], len(record["file_kinds"]["seen"]), len(record["units"]["seen"])
    errors, warnings = record["findings"]["errors"], record["findings"]["warnings"]
    for line in by_rule(record, folder):
        print(line)
    print(  # Japanese first, then English, then where the report is
        f"{files} ファイル: ファイル種別 {kinds} 種・送信単位 {units} 種を使用、エラー {errors} 件・警告 {warnings} 件"
    )
    print(f"{files} files: {kinds} file kinds, {units} sending units exercised; {errors} errors, {warnings} warnings")
    print(f"報告 / report: {report / 'csv-coverage.html'}")
    return 1 if record["findings"]["errors"] else 0
