"""Every rule the validator can report reads in Japanese (careplan/findings_ja.py, issue 13)."""

from __future__ import annotations

import re

import pytest

from careplan.errors import is_japanese
from careplan.findings_ja import RULES_JA, rule_ja
from careplan.standard import check_transmission
from careplan.standard.judged import judge_files
from careplan_cli.validate import render_text
from fixtures.broken import BROKEN


@pytest.mark.parametrize("breakage", BROKEN, ids=lambda b: b.name)
def test_every_finding_of_every_broken_variant_reads_in_japanese(breakage) -> None:  # type: ignore[no-untyped-def]
    files = list(breakage.make().items())
    entries = judge_files(files, strict=breakage.strict)
    judged = check_transmission(files, sender=breakage.sender, recipient=breakage.recipient, strict=breakage.strict)
    rules = {f.rule for e in entries for f in e.findings} | {f.rule for f in judged}
    assert breakage.rule in rules, breakage.name
    for rule in rules:
        assert rule_ja(rule) is not None, f"{rule} has no Japanese text"
    if not any(e.findings for e in entries):
        return  # a limit of one transmission that the bulk sorting splits away
    text = render_text(entries, "ja")
    # A finding written Japanese first carries its English in message_en; the others are English.
    english = [f.message_en or f.message for e in entries for f in e.findings]
    assert not any(message in text for message in english), "the Japanese report shows English findings"
    assert english[0] in render_text(entries, "en")


def test_the_table_is_japanese_and_families_fall_back() -> None:
    for rule, (what, fix) in RULES_JA.items():
        assert is_japanese(what) or what.endswith("。"), rule
        assert fix.endswith("。") or fix.endswith("）。"), rule
    assert rule_ja("field.office_number.check_digit") == RULES_JA["field.office_number"]
    assert rule_ja("no.such.rule") is None


_ENGLISH = re.compile(r"\b[a-z]{2,}\b")  # an English word (Shift_JIS, YYYYMMDD and file names are not)
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.mark.parametrize("breakage", BROKEN, ids=lambda b: b.name)
def test_every_expectation_in_english_words_has_a_japanese_one(breakage) -> None:  # type: ignore[no-untyped-def]
    """The 期待値 of the Japanese report printed `expected` as it is: 「6 digits」, 「a value」,
    「≤ 6 characters」, 「CR LF line ends」. `expected` stays English for JSON readers;
    `expected_ja` is what the Japanese report shows."""
    files = list(breakage.make().items())
    entries = judge_files(files, strict=breakage.strict)
    judged = check_transmission(files, sender=breakage.sender, recipient=breakage.recipient, strict=breakage.strict)
    findings = [f for e in entries for f in e.findings] + judged
    english = [f for f in findings if f.expected and _ENGLISH.search(f.expected)]
    for f in english:
        assert f.expected_ja and _JAPANESE.search(f.expected_ja), (f.rule, f.expected)
    text = render_text(entries, "ja")
    assert not any(f"期待値: {f.expected}" in text for e in entries for f in e.findings if f in english)


_WORD = re.compile(r"\b[A-Za-z]{2,}\b")


@pytest.mark.parametrize("breakage", BROKEN, ids=lambda b: b.name)
def test_every_fix_reads_as_an_instruction_in_its_language(breakage) -> None:  # type: ignore[no-untyped-def]
    """Seven fixes quoted the standard's remark as it stands, a rule rather than what to do
    (「１ファイル内は単月のサービス提供年月の情報のみとする.」, 「種類別小計及び全合計の場合は0固定.」),
    and four Japanese-first findings had no `fix_en`, so `--lang en` showed that Japanese. A
    Japanese fix now says what to do, the standard's words quoted after it where they help; an
    English finding's fix is English (the table gives its Japanese)."""
    files = list(breakage.make().items())
    entries = judge_files(files, strict=breakage.strict)
    judged = check_transmission(files, sender=breakage.sender, recipient=breakage.recipient, strict=breakage.strict)
    for f in [f for e in entries for f in e.findings] + judged:
        if not f.fix:
            continue
        if f.message_en:  # Japanese first: its own fix is shown in Japanese, fix_en in English
            assert f.fix.endswith("。") and f.fix_en and not f.fix_en.endswith("。"), (f.rule, f.fix, f.fix_en)
            assert _WORD.search(f.fix_en), (f.rule, f.fix_en)
        else:  # English first: the table's line is the Japanese, so the fix is English
            assert _WORD.search(f.fix) and not f.fix.endswith("。"), (f.rule, f.fix)


def test_a_value_is_shown_whole_when_short_and_as_its_beginning_and_length_when_long() -> None:
    from careplan.errors import Lang
    from careplan.findings_ja import value_text

    assert value_text({"value": "13101"}, Lang.JA) == "13101"
    assert value_text({"value": "あ" * 30}, Lang.JA) == "あ" * 30  # 60 cells: whole
    assert value_text({"value": "あ" * 31}, Lang.JA) == "あ" * 20 + "…（全31文字）"
    assert value_text({"value": "1" * 5000}, Lang.EN) == "1" * 40 + "… (5,000 characters)"
    # A value the finding carries clipped says so even when what it carries is short.
    assert value_text({"value": "ケアマネ" * 10, "value_length": 100}, Lang.JA) == "ケアマネ" * 5 + "…（全100文字）"
    # Line breaks and control characters are shown, never obeyed.
    assert value_text({"value": "行1\r\n行2\x1b[2J"}, Lang.JA) == "行1\\r\\n行2\\x1b[2J"
    assert value_text({}, Lang.JA) == ""


_OWN = {  # an English finding with an English fix beside its fix and no message_en
    "severity": "error",
    "rule": "field.insurer",
    "file": "UPPLAN_202504_1312300013_43_1311700023_11_20250420093000.CSV",
    "line": 3,
    "field_no": 2,
    "message": "保険者番号 '13101' is not 6 digits",
    "fix": "6桁の保険者番号を書いてください。",
    "fix_en": "Write the 6-digit 保険者番号.",
}


def test_a_finding_reads_the_same_in_the_validator_and_in_the_clients_refusal() -> None:
    """`careplan validate` and the client's refusals worded findings each with their own copy of
    the rules; they differed for a finding with `fix_en` but no `message_en`: in English the
    validator showed `fix_en`, the client the (Japanese) `fix`. `fix_en` is the English fix."""
    import io

    from rich.console import Console

    from careplan.errors import CareplanError, Finding, Lang
    from careplan.findings_ja import finding_text, where_text
    from careplan.standard.judged import Entry
    from client import render

    assert finding_text(_OWN, Lang.EN) == (_OWN["message"], _OWN["fix_en"])
    assert finding_text(_OWN, Lang.JA) == RULES_JA["field.insurer"]
    # An item without a name: no space left at the end (the client's findings left one).
    assert where_text(_OWN) == f"{_OWN['file']}:3 No.2"
    assert where_text({"field_no": 2, "field_name": "保険者番号"}) == "No.2 保険者番号"
    assert where_text({}) == ""
    for language in Lang:
        report = render_text([Entry(kind="unplaced", files=["x"], findings=[Finding(**_OWN)])], str(language))
        buffer = io.StringIO()
        saved, render.err = render.err, Console(file=buffer, width=140, highlight=False, soft_wrap=True)
        try:  # 140 columns: the findings as blocks, each on one line
            render.refusal(CareplanError("FORMAT_INVALID", findings=[_OWN]), language)
        finally:
            render.err = saved
        client = buffer.getvalue()
        message, fix = finding_text(_OWN, language)
        assert f"{where_text(_OWN)}: {message}" in report and fix in report, report
        assert f"field.insurer  {where_text(_OWN)}\n" in client and message in client and fix in client, client
        if language is Lang.EN:
            assert _OWN["fix"] not in report and _OWN["fix"] not in client
