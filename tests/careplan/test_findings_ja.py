"""Every rule the validator can report reads in Japanese (careplan/findings_ja.py, issue 13)."""

from __future__ import annotations

import re

import pytest

from careplan.errors import is_japanese
from careplan.findings_ja import RULES_JA, rule_ja
from careplan.standard import check_transmission
from careplan_cli.validate import build_report, render_text
from fixtures.broken import BROKEN


@pytest.mark.parametrize("breakage", BROKEN, ids=lambda b: b.name)
def test_every_finding_of_every_broken_variant_reads_in_japanese(breakage) -> None:  # type: ignore[no-untyped-def]
    files = list(breakage.make().items())
    entries = build_report(files, strict=breakage.strict)
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
    entries = build_report(files, strict=breakage.strict)
    judged = check_transmission(files, sender=breakage.sender, recipient=breakage.recipient, strict=breakage.strict)
    findings = [f for e in entries for f in e.findings] + judged
    english = [f for f in findings if f.expected and _ENGLISH.search(f.expected)]
    for f in english:
        assert f.expected_ja and _JAPANESE.search(f.expected_ja), (f.rule, f.expected)
    text = render_text(entries, "ja")
    assert not any(f"期待値: {f.expected}" in text for e in entries for f in e.findings if f in english)


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
