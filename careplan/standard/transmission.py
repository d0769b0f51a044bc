"""One transmission as the hub sees it: `check_transmission` and `refusal` (R4, decisions D12–D14).

Rules this module keeps:
1. Limits first (7 files, 10 MiB), then what each file is (zip, type, content), then the names
   as one sending unit, then each file's format and the links between files.
2. A transmission holds one sending unit of standard files, or only attachments (decision D12).
3. Each finding's rule maps to one catalogue code (RULE_CODES); `refusal` picks one code by
   PRECEDENCE among the root causes (CONSEQUENCES never pick it) and carries every finding, root
   causes first (decision D14). Its detail names places and rules, never values (it is logged).
4. A misspelled prefix is a standard file named wrongly, not an attachment: refused by name and
   counted in the unit as the file it was meant to be (decision D22).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from careplan.errors import CareplanError, Finding
from careplan.findings_ja import rule_ja, where_text
from careplan.standard.content import NOT_TEXT_RULE, Kind, classify
from careplan.standard.filename import FileName, file_name_findings, misspelled
from careplan.standard.layout import standard
from careplan.standard.source import Content, head_of, size_of
from careplan.standard.units import relation_findings, unit_findings
from careplan.standard.validate import CsvReport, inspect_csv

# Rule prefix -> error code, first match wins; anything else is FORMAT_INVALID.
RULE_CODES: tuple[tuple[str, str], ...] = (
    ("transmission.zip", "DATA_LOAD_FAILED"),
    ("transmission.file_", "FILE_TYPE_NOT_ALLOWED"),
    ("transmission.too_many_files", "TOO_MANY_FILES"),
    ("transmission.too_large", "TRANSMISSION_TOO_LARGE"),
    ("bulk.too_many_transmissions", "BULK_TOO_MANY_TRANSMISSIONS"),
    ("filename.same_office", "SAME_OFFICE"),
    ("transmission.same_office", "SAME_OFFICE"),
    ("transmission.", "COMBINATION_INVALID"),
    ("unit.", "COMBINATION_INVALID"),
    ("bulk.", "COMBINATION_INVALID"),
)  # relation.* is FORMAT_INVALID: the files travel together, their content does not fit (D14)
# Findings that follow from another one (the root cause): listed after the roots, never chosen
# for the refusal code (decision D14).
CONSEQUENCES = frozenset({"relation.orphaned"})
PRECEDENCE = (
    "DATA_LOAD_FAILED",
    "FILE_TYPE_NOT_ALLOWED",
    "TOO_MANY_FILES",
    "TRANSMISSION_TOO_LARGE",
    "BULK_TOO_MANY_TRANSMISSIONS",
    "SAME_OFFICE",
    "COMBINATION_INVALID",
    "FORMAT_INVALID",
)


def code_for(finding: Finding) -> str:
    """The catalogue code a finding refuses with (decision D14)."""
    for prefix, code in RULE_CODES:
        if finding.rule.startswith(prefix):
            return code
    return "FORMAT_INVALID"


def limit_findings(files: Sequence[tuple[str, Content]]) -> list[Finding]:
    """R4.3: at most 7 files and 10 MiB per transmission; at least one file."""
    limits = standard().limits
    found: list[Finding] = []
    if not files:
        found.append(
            Finding(
                rule="transmission.empty",
                message="the transmission has no files",
                section="R4.3",
                fix="Add the files to send.",
            )
        )
    if len(files) > limits.max_files:
        found.append(
            Finding(
                rule="transmission.too_many_files",
                message=f"1回の送信が{len(files)}ファイルです。1回に送れるのは{limits.max_files}ファイルまでです。",
                message_en=f"{len(files)} files in one transmission (at most {limits.max_files})",
                value=str(len(files)),
                expected=f"≤ {limits.max_files}",
                expected_ja=f"{limits.max_files}ファイル以内",
                section="R4.3",
                fix=f"{limits.max_files}ファイル以下ずつに分けて送信してください。",
                fix_en="Split the files over several transmissions.",
            )
        )
    size = sum(size_of(data) for _, data in files)
    if size > limits.max_bytes:
        megabytes = f"{size / (1 << 20):.1f}MB（{size:,}バイト）"  # 10MB is 10,485,760 bytes: the bytes decide
        found.append(
            Finding(
                rule="transmission.too_large",
                message=f"1回の送信が{megabytes}です。1回に送れるのは10MB（{limits.max_bytes:,}バイト）までです。",
                message_en=f"{size:,} bytes in one transmission (at most {limits.max_bytes:,}, 10 MB)",
                value=str(size),
                expected=f"≤ {limits.max_bytes} bytes (10 MB)",
                expected_ja=f"{limits.max_bytes:,}バイト（10MB）以内",
                section="R4.3",
                fix="1ファイルの利用者を減らすか、送信を分けて、1回10MB以下にしてください。",
                fix_en="Send fewer users per file or split the transmission.",
            )
        )
    return found


def _names(files: Sequence[tuple[str, Content]]) -> list[Finding]:
    counts = Counter(name for name, _ in files)
    return [
        Finding(
            rule="transmission.duplicate_name",
            file=name,
            message="two files have the same name",
            value=name,
            section="R4.3",
            fix="Send each file once.",
        )
        for name, n in counts.items()
        if n > 1
    ]


def _mixing(standard_names: list[str], attachments: list[str]) -> list[Finding]:
    if not (standard_names and attachments):
        return []
    return [
        Finding(
            rule="transmission.mixed_kinds",
            file=name,
            message="a document outside the standard cannot travel with a sending unit",
            value=name,
            expected="standard files only, or attachments only",
            expected_ja="標準仕様のファイルだけ、または添付ファイルだけ",
            section="R4.3 (decision D12)",
            fix="Send the document in a transmission of its own.",
        )
        for name in attachments
    ]


def _same_office(sender: str | None, recipient: str | None) -> list[Finding]:
    if sender is None or sender != recipient:
        return []
    return [
        Finding(
            rule="transmission.same_office",
            message="sender and recipient have the same 事業所番号",
            value=sender,
            section="R4.8",
            fix="Send to another office; offices under one 事業所番号 share one receive list (R1.4).",
        )
    ]


def check_transmission(
    files: Sequence[tuple[str, Content]],
    *,
    sender: str | None = None,
    recipient: str | None = None,
    strict: bool = False,
) -> list[Finding]:
    """Everything the hub checks about one transmission's files; never raises on content. A file
    may be `Streamed` (careplan.standard.source): read back chunk by chunk, same findings.

    `sender`/`recipient` are the 事業所番号 of the signed manifest; when given, the file names
    must name them. Warnings (severity "warning") do not refuse; see `refusal`.
    """
    found = limit_findings(files) + _names(files) + _same_office(sender, recipient)
    standard_files: list[tuple[str, Content]] = []
    attachments: list[str] = []
    zipped: list[str] = []  # names of zip containers (an archive, an .xlsx): standard ones count below
    for name, data in files:
        kind, problems = classify(name, head_of(data))  # it reads the first bytes only
        found += problems
        if kind is Kind.STANDARD:
            standard_files.append((name, data))
        elif kind is Kind.ATTACHMENT:
            attachments.append(name)
        elif kind is Kind.ZIP:
            zipped.append(name)
    found += _mixing([n for n, _ in standard_files], attachments)
    reports: list[CsvReport] = [inspect_csv(n, d, strict=strict) for n, d in standard_files]
    for report in reports:
        found += report.findings
    parsed: list[tuple[str, FileName]] = [(r.name, r.file_name) for r in reports if r.file_name]
    # A file whose prefix is misspelled takes part in the unit as what it was meant to be, so
    # that the unit is not also called incomplete because of it (its own finding is the cause).
    parsed += [(name, typo[1]) for name, _ in files if (typo := misspelled(name)) and typo[1] is not None]
    # So does a standard file sent as a zip container: its name says what it is (its zip finding
    # is the cause; the unit is not also told that file is missing).
    parsed += [(name, read) for name in zipped if (read := file_name_findings(name)[0]) is not None]
    if len(parsed) >= len(reports) and (reports or parsed):
        found += unit_findings(parsed, sender=sender, recipient=recipient)
        found += relation_findings(reports)
    return found


# Rules whose messages hold no value from a file's content: about names, counts and kinds of
# files, a standard file that is a document (content.not_text names its kind from a table) or
# Unicode text (the encoding's name), and a record without its parent (the parent's layout, key
# items and file name, the line of an unreadable parent record: never the key's values).
_OWN_WORDS = (
    "unit.",
    "filename.",
    "transmission.",
    "bulk.",
    NOT_TEXT_RULE,
    "encoding.unicode",
    "relation.missing_parent",
    "relation.orphaned",
)


def _brief(finding: Finding, *, japanese: bool = False) -> str:
    """Where a finding is and which rule it breaks, and for a rule of _OWN_WORDS its message;
    never a value from a file's content: the detail of a refusal may be written to the hub's log
    and audit, which must not hold personal data. In Japanese a rule reads as its line of the
    table of rules (careplan.findings_ja), which holds no values either, except a finding of
    _OWN_WORDS written Japanese first: its own message says more (the document a standard file
    is, whether a zip container or a PDF; the prefix it misspells) and holds names only."""
    where = where_text(finding.to_dict())
    texts = rule_ja(finding.rule) if japanese else None
    if finding.rule.startswith(_OWN_WORDS):
        if finding.message_en:
            said = finding.message if japanese else finding.message_en
        else:
            said = texts[0] if texts else finding.message
        said = f": {said}"
    else:
        said = f": {texts[0]}" if texts else ""
    return f"{where} ({finding.rule}){said}" if where else f"{finding.rule}{said}"


def refusal(findings: Sequence[Finding]) -> CareplanError | None:
    """None when no finding is an error; else one CareplanError with all findings.

    The code is chosen by PRECEDENCE among the root causes (errors that are not CONSEQUENCES);
    the findings come root causes of that code first, then the other root causes, then the
    consequences, then the warnings (decision D14)."""
    errors = [f for f in findings if f.severity == "error"]
    if not errors:
        return None
    roots = [f for f in errors if f.rule not in CONSEQUENCES] or errors
    code = min((code_for(f) for f in roots), key=PRECEDENCE.index)
    lead = [f for f in roots if code_for(f) == code]
    rest = [f for f in roots if code_for(f) != code]
    after = [f for f in errors if f not in roots]
    warnings = [f for f in findings if f.severity != "error"]
    shown = "; ".join(_brief(f) for f in lead[:3])
    more = len(errors) - len(lead[:3])
    shown_ja = "; ".join(_brief(f, japanese=True) for f in lead[:3])
    first = lead[0]
    # A finding with an English fix beside it has its fix in Japanese; otherwise its fix is English
    # and the Japanese one comes from the table of rules.
    table = rule_ja(first.rule)
    fix_ja = first.fix if first.fix_en else (table[1] if table else first.fix)
    return CareplanError(
        code,
        detail=f"エラー {len(errors)}件: {shown_ja}" + (f"（ほか {more}件）" if more else ""),
        detail_en=f"{len(errors)} error(s): {shown}" + (f" (+{more} more)" if more else ""),
        fix=fix_ja or "",
        fix_en=first.fix_en or first.fix or "",
        findings=[*lead, *rest, *after, *warnings],
    )
