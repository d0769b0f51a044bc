"""Records to MS932 CSV bytes: `write_csv(file_id, records) -> bytes` (標準仕様 4, decision D3).

Rules this module keeps:
1. Output is MS932, CRLF after every record, no BOM, no header row.
2. Non-empty free text (書式 フリーテキスト) is always enclosed in "" with " doubled; any other
   field is quoted only if it must be (comma, quote, CR, LF). Null（空） is an empty field.
3. The writer refuses what no receiver could read back: a wrong field count, a character outside
   MS932, 外字 or a control character. It raises CareplanError(FORMAT_INVALID) whose findings
   name the record, field and character; it does not otherwise judge values (that is validate).
"""

from __future__ import annotations

from collections.abc import Sequence

from careplan.errors import CareplanError, Finding
from careplan.findings_ja import rule_ja
from careplan.standard.decoding import BAD_CHARS, ENCODING
from careplan.standard.layout import standard

SECTION = "標準仕様 4 (文字コード・区切文字)"
_NEEDS_QUOTES = frozenset(',"\r\n')
# Look-alikes that have an MS932 form, offered in the fix of an unencodable character.
_SUGGEST = {"\u2014": "\u2015", "\u9dd7": "\u9d0e", "\U00020bb7": "\u5409"}


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _char_problem(value: str) -> str | None:
    """The first character of `value` that MS932 cannot carry, or None."""
    bad = BAD_CHARS.search(value.replace("\t", ""))
    if bad is not None and bad.group() not in "\r\n":
        return bad.group()
    try:
        value.encode(ENCODING)
    except UnicodeEncodeError as e:
        return value[e.start]
    return None


def _problem(index: int, no: int, name: str, char: str) -> Finding:
    hint = f" (e.g. {_SUGGEST[char]})" if char in _SUGGEST else ""
    return Finding(
        rule="writer.not_ms932",
        message=f"record {index + 1} No.{no} {name}: character U+{ord(char):04X} {char!r} cannot be written in MS932",
        line=index + 1,
        field_no=no,
        field_name=name,
        value=char,
        expected="MS932 characters without 外字",
        expected_ja="外字を除く MS932 の文字",
        section=SECTION,
        fix=f"Replace it with an MS932 character{hint}.",
    )


def _line(file_id: str, index: int, record: Sequence[str], problems: list[Finding]) -> str:
    layout = standard().layout(file_id)
    if len(record) != layout.field_count:
        problems.append(
            Finding(
                rule="writer.field_count",
                line=index + 1,
                section=f"レイアウト定義書 {file_id}",
                message=f"record {index + 1} has {len(record)} fields, {file_id} has {layout.field_count}",
                value=str(len(record)),
                expected=str(layout.field_count),
                fix="Give one value per item.",
            )
        )
        return ""
    cells = []
    for fld, value in zip(layout.fields, record, strict=True):
        char = _char_problem(value)
        if char is not None:
            problems.append(_problem(index, fld.no, fld.name, char))
        needs = (fld.free_text and value) or not _NEEDS_QUOTES.isdisjoint(value)
        cells.append(_quote(value) if needs else value)
    return ",".join(cells)


def write_csv(file_id: str, records: Sequence[Sequence[str]]) -> bytes:
    """The CSV bytes of `records` (lists of str in layout order) for `file_id`.

    Raises CareplanError(FORMAT_INVALID) with findings when a record cannot be written, and
    KeyError/ValueError for an unknown or non-CSV file id (a programming error).
    """
    if not standard().layout(file_id).is_csv:
        raise ValueError(f"{file_id} is not a CSV file")
    problems: list[Finding] = []
    lines = [_line(file_id, i, record, problems) for i, record in enumerate(records)]
    if problems:
        first = problems[0]
        table = rule_ja(first.rule)  # (the rule, its fix) in Japanese
        raise CareplanError(
            "FORMAT_INVALID",
            detail=f"{len(problems)}件の問題があります。最初: {table[0] if table else first.message}",
            fix=(first.fix if first.fix_en else (table[1] if table else first.fix)) or "",
            detail_en=f"{len(problems)} problem(s); first: {first.message_en or first.message}",
            fix_en=first.fix_en or first.fix or "",
            findings=problems,
        )
    return "".join(line + "\r\n" for line in lines).encode(ENCODING)
