"""`careplan validate PATH... [--json] [--strict] [--lang ja|en]`: the standard, offline.

Files and folders (recursively) are read and judged as the hub would judge them
(`careplan.standard.judged`: sorted like a bulk send, each transmission checked as the hub checks
one, each document outside the standard on its own, and each file that cannot be placed with the
reason and its own format findings). Exit status: 0 no errors (warnings allowed), 1 errors, 2 usage (bad path).
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.cells import cell_len

from careplan.errors import Finding, Lang
from careplan.findings_ja import expected_text, finding_text, value_text, where_text
from careplan.folding import fold
from careplan.helptext import os_error_text, readable, with_examples
from careplan.standard.judged import Entry, judge_files
from client import render

LABELS = {
    "ja": {
        "transmission": "送信",
        "attachment": "添付ファイル（標準仕様外）",
        "unplaced": "送信不可のファイル",
        "ok": "問題なし",
        "refused": "送信不可",
        "error": "エラー",
        "warning": "警告",
        "value": "値",
        "expected": "期待値",
        "section": "根拠",
        "fix": "対処",
        "summary": "{entries}件 / {files}ファイル: エラー {errors}件, 警告 {warnings}件",
        "to": "送信先",
    },
    "en": {
        "transmission": "Transmission",
        "attachment": "Attachment (outside the standard)",
        "unplaced": "Cannot be sent",
        "ok": "OK",
        "refused": "Refused",
        "error": "error",
        "warning": "warning",
        "value": "value",
        "expected": "expected",
        "section": "section",
        "fix": "fix",
        "summary": "{entries} entries / {files} files: {errors} errors, {warnings} warnings",
        "to": "to",
    },
}


def _collect(paths: list[str]) -> list[tuple[str, bytes]]:
    """(name, bytes) for every file under `paths`; raises OSError naming the path for one that is
    missing, unreadable, a symlink loop, or neither a file nor a folder (a FIFO would block)."""
    files: list[tuple[str, bytes]] = []
    for raw in paths:
        path = readable(raw, folder=True)
        if path.is_dir():
            files += [(p.name, p.read_bytes()) for p in sorted(path.rglob("*")) if p.is_file()]
        else:
            files.append((path.name, path.read_bytes()))
    return files


Line = tuple[str, str, int]  # (lead, text, indent of its continuation lines): folded by `render_text`
DETAILS_CELLS = 80 - 6  # 値, 期待値 and 根拠 share a line of 80 columns when they fit it


def _finding_lines(f: Finding, labels: dict[str, str], lang: str = "ja") -> list[Line]:
    said, language = f.to_dict(), Lang(lang)
    where = where_text(said)
    message, fix = finding_text(said, language)
    lines = [(f"  [{labels.get(f.severity, f.severity)}] ", f"{where}: {message}" if where else message, 6)]
    details = [
        (labels["value"], value_text(said, language)),
        (labels["expected"], expected_text(said, language)),
        (labels["section"], f.section),
    ]
    shown = [f"{k}: {v}" for k, v in details if v not in (None, "")]
    together = "  ".join(shown)
    if together and cell_len(together) <= DETAILS_CELLS:
        lines.append(("      ", together, 8))
    else:  # a long value or expectation: each on its own line, none cut in the middle of another
        lines += [("      ", part, 8) for part in shown]
    if fix:
        lead = f"      {labels['fix']}: "
        lines.append((lead, fix, cell_len(lead)))
    return lines


def _entry_lines(number: int, entry: Entry, labels: dict[str, str], lang: str) -> list[Line]:
    head = f"{labels[entry.kind]} {number}"
    if entry.recipient:
        head += f" ({labels['to']} {entry.recipient})"
    lines = [(head + ": ", ", ".join(entry.files), 2)]
    error = entry.error
    if error is None:
        lines.append(("  ", labels["ok"], 2))
    else:
        lead = f"  {labels['refused']} {error.code}: "
        lines.append((lead, error.message, 4))
        if lang == "ja":
            lines.append(("  （", f"{error.explanation_in(Lang(lang))}）", 4))
        else:
            lines.append(("  (", f"{error.spec.explanation})", 3))
    for f in [
        *(x for x in entry.findings if x.severity == "error"),
        *(x for x in entry.findings if x.severity != "error"),
    ]:
        lines += _finding_lines(f, labels, lang)
    return lines


def _folded(line: Line, width: int | None) -> list[str]:
    """A report line whole (`width` None), or folded as Japanese reads it (careplan.folding): its
    lead and the first piece, the rest below indented, each within `width` cells."""
    lead, text, indent = line
    if width is None:
        return [lead + text]
    first = fold(lead + text, max(20, width))[0]  # after the lead: a file name too long for it goes below
    rest = (lead + text)[len(first) :].lstrip()
    return [first, *(" " * indent + piece for piece in (fold(rest, max(20, width - indent)) if rest else []))]


def render_text(entries: list[Entry], lang: str, width: int | None = None) -> str:
    """The report for people; with `width`, every line folded to fit it (the CLI: its stdout's)."""
    labels = LABELS[lang]
    lines: list[str] = []
    for number, entry in enumerate(entries, 1):
        lines += [*(part for line in _entry_lines(number, entry, labels, lang) for part in _folded(line, width)), ""]
    counts = _counts(entries)
    lines.append(labels["summary"].format(**counts))
    return "\n".join(lines)


def _counts(entries: list[Entry]) -> dict[str, int]:
    findings = [f for e in entries for f in e.findings]
    return {
        "entries": len(entries),
        "files": sum(len(e.files) for e in entries),
        "errors": sum(f.severity == "error" for f in findings),
        "warnings": sum(f.severity != "error" for f in findings),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="careplan validate",
        description="Check care plan CSV files and folders against the V4.1 standard offline.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--strict", action="store_true", help="check digits of office and insurer numbers are errors")
    render.add_lang_option(parser, "the report")
    example = "例: careplan validate .careplan-sim/demo/samples/\n    careplan validate --json --strict 今月分/*.CSV"
    return with_examples(parser, {"": example})


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        files = _collect(args.paths)
    except OSError as e:
        print(f"careplan validate: 読めません / cannot read\n  {os_error_text(e)}", file=sys.stderr)
        return 2
    entries = judge_files(files, strict=args.strict)
    counts = _counts(entries)
    if args.json:
        body = {"ok": counts["errors"] == 0, "summary": counts, "entries": [e.to_json() for e in entries]}
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        print(render_text(entries, args.lang, render.out.width))  # a terminal's width, else $COLUMNS or 80
    return 1 if counts["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
