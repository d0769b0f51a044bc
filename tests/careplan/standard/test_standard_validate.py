"""validate_csv: every rule of one file, by mutating valid sample records."""

from __future__ import annotations

import re

import pytest
from standard_testkit import HELPER, MANAGER, errors, name_of, plan_set, records_of, rules

from careplan.errors import is_japanese
from careplan.standard import validate_csv, write_csv
from careplan.standard.fields import is_date, is_month, is_time


def _check(file_id: str, records: list[list[str]], *, month: str | None = "202504", strict: bool = False) -> list:
    return validate_csv(name_of(file_id, month=month), write_csv(file_id, records), strict=strict)


def test_the_sample_files_are_valid() -> None:
    for name, data in plan_set().items():
        assert validate_csv(name, data) == [], name


# (file, record, field No., value, rule, severity)
MUTATIONS = [
    ("UPPLAN", 0, 1, "202504", "csv.version_old", "error"),
    ("UPPLAN", 0, 1, "201910", "csv.version_old", "error"),
    ("UPPLAN", 0, 1, "2024", "csv.version", "error"),
    ("UPPLAN", 0, 2, "", "field.required", "error"),
    ("UPPLAN", 0, 2, "13101", "field.insurer", "error"),
    ("UPPLAN", 0, 2, "131012", "field.insurer_check_digit", "warning"),
    ("UPPLAN", 0, 3, "12345", "field.insured", "error"),
    ("UPPLAN", 0, 3, "h123456789", "field.insured", "error"),
    ("UPPLAN", 0, 4, "20250230", "field.date", "error"),
    ("UPPLAN", 0, 4, "2025-4-1", "field.date", "error"),
    ("UPPLAN", 0, 6, "12345", "field.office_number.structure", "error"),
    ("UPPLAN", 0, 6, MANAGER[:9] + str((int(MANAGER[9]) + 1) % 10), "field.office_number.check_digit", "warning"),
    ("UPPLAN", 0, 8, "12a", "field.integer", "error"),
    ("UPPLAN", 0, 8, "1234567", "field.length", "error"),
    ("UPPLAN", 0, 10, "20250501", "plan.date_month", "error"),
    ("UPPLAN", 0, 11, "1" * 30, "field.hiwari", "error"),
    ("UPPLAN", 0, 11, "2" * 31, "field.hiwari", "error"),
    ("UPPLAN", 0, 11, "0" * 30 + "1", "plan.hiwari_month", "error"),  # April has 30 days
    ("UPPLAN", 0, 12, "2460", "field.time", "error"),
    ("UPPLAN", 0, 12, "9999", "plan.time_9999", "warning"),
    ("UPPLAN", 0, 14, "x", "field.digits", "error"),
    ("UPPLAN", 0, 15, "11AAAA", "plan.subtotal_code", "error"),
    ("UPPLAN", 0, 15, "999999", "plan.subtotal_code", "error"),
    ("UPPLAN", 0, 15, "331111", "plan.kind_scope", "warning"),
    ("UPPLAN", 0, 15, "11-111", "field.service_code", "error"),
    ("UPPLAN", 0, 16, "00001000010", "field.tais", "error"),
    ("UPPLAN", 0, 19, "1", "plan.meisai", "error"),
    ("UPPLAN", 0, 20, "", "field.required", "error"),
    ("UPPLAN", 0, 23, "2", "field.choice", "error"),
    ("UPPLAN", 0, 5, "202505", "csv.month_mixed", "error"),
    ("UPSIKYU", 0, 9, "11AAAA", "sikyu.subtotal_units", "error"),
    ("UPSIKYU", 0, 7, "9999999999", "sikyu.all9_office", "error"),
    ("UPSIKYU", 0, 16, "1000", "field.length", "error"),
    ("UPSIKYU", 0, 23, "11.4", "field.decimal", "error"),
    ("UPSIKYU", 0, 34, MANAGER, "sikyu.jigyosho_code", "warning"),
    ("UPSIKYU", 0, 13, "-50", None, None),  # 減算 units are negative integers
    ("UPHOSOKU", 0, 4, "20250401", "hosoku.needs_zero_date", "error"),
    ("UPHOSOKU", 0, 7, "3", "field.choice", "error"),
    ("UPHOSOKU", 0, 9, "1000005", "field.postcode", "error"),
    ("UPHOSOKU", 0, 12, "03 1234 5678", "field.phone", "error"),
    ("UPHOSOKU", 0, 18, "06", None, None),  # 事業対象者
    ("UPHOSOKU", 0, 20, "1", "field.kind", "error"),
    ("UPHOSOKU", 0, 63, "202503", "csv.month_name", "error"),
    # Full-width digits (MS932 has them; a typed value copied from a form) are not digits of the standard.
    ("UPPLAN", 0, 2, "１３１０１１", "field.insurer", "error"),
    ("UPPLAN", 0, 3, "１４３０８０４５１４", "field.insured", "error"),
    ("UPPLAN", 0, 8, "３９６", "field.integer", "error"),
    ("UPPLAN", 0, 14, "１", "field.digits", "error"),
    ("UPPLAN", 0, 16, "００００１－００００１０", "field.tais", "error"),
    ("UPSIKYU", 0, 23, "１１.４０", "field.decimal", "error"),
    ("UPHOSOKU", 0, 9, "１００-０００５", "field.postcode", "error"),
]


@pytest.mark.parametrize(("file_id", "index", "no", "value", "rule", "severity"), MUTATIONS)
def test_rule(file_id: str, index: int, no: int, value: str, rule: str | None, severity: str | None) -> None:
    records = records_of(file_id)
    records[index][no - 1] = value
    found = _check(file_id, records)
    if rule is None:
        assert found == []
        return
    hits = [f for f in found if f.rule == rule]
    assert hits, found
    hit = hits[0]
    assert hit.severity == severity
    assert hit.file == name_of(file_id)
    assert hit.line == index + 1 or rule.startswith("csv.month")
    assert hit.field_no == no or rule in ("plan.time_9999", "sikyu.subtotal_units")
    assert hit.section and hit.section.startswith(f"レイアウト定義書 {file_id}")
    assert hit.fix and hit.expected is not None


ITEM_RULES = [m for m in MUTATIONS if m[4] is not None and m[4].startswith("field.")]


@pytest.mark.parametrize(("file_id", "index", "no", "value", "rule", "severity"), ITEM_RULES)
def test_item_findings_are_japanese_first(
    file_id: str, index: int, no: int, value: str, rule: str, severity: str
) -> None:
    """An item's finding is content (decision D23): its message and fix are Japanese, with no English
    words in them (the expectation included), and the English beside them in message_en / fix_en."""
    records = records_of(file_id)
    records[index][no - 1] = value
    hit = next(f for f in _check(file_id, records) if f.rule == rule)
    for text in (hit.message.replace(value, "「」"), hit.fix or ""):
        assert is_japanese(text) and not re.search(r"[a-z]{2,}", text), text
    assert hit.message_en and hit.fix_en


def test_special_values() -> None:
    plan = records_of("UPPLAN")
    plan[0][11:13] = ["9999", "9999"]
    plan[0][10] = "1111100000000000000000000000000"
    assert _check("UPPLAN", plan) == []
    plan[0][12] = "2400"
    plan[0][11] = "2300"
    assert _check("UPPLAN", plan) == []


def test_hosoku_linked_to_first_table() -> None:
    rows = records_of("UPHOSOKU")
    for row in rows:
        row[3], row[62] = "20250401", "000000"
    assert _check("UPHOSOKU", rows, month="000000") == []
    rows[0][3] = "00000000"
    assert "hosoku.both_zero" in rules(_check("UPHOSOKU", rows, month="000000"))


def test_sikyu_totals() -> None:
    rows = [r for r in records_of("UPSIKYU") if not (r[2] == "0001234567" and r[8] == "999999")]
    found = _check("UPSIKYU", rows)
    assert "sikyu.total_missing" in rules(found, "error")
    rows = records_of("UPSIKYU")
    total = next(r for r in rows if r[8] == "999999")
    total[6] = HELPER
    assert "sikyu.total_office" in rules(_check("UPSIKYU", rows))
    rows = records_of("UPSIKYU")
    total = next(r for r in rows if r[8] == "999999")
    total[13] = "90"
    assert "sikyu.subtotal_discount" in rules(_check("UPSIKYU", rows))


def test_kind_with_several_rows_wants_an_aaaa_subtotal() -> None:
    rows = records_of("UPSIKYU")
    rows.insert(1, list(rows[0]))
    rows[1][8] = "111211"
    assert "sikyu.subtotal_missing" in rules(_check("UPSIKYU", rows), "warning")
    sub = list(rows[0])
    sub[8], sub[12], sub[16] = "11AAAA", "0", ""
    rows.insert(2, sub)
    assert "sikyu.subtotal_missing" not in rules(_check("UPSIKYU", rows))


def test_tais_required_for_welfare_rental() -> None:
    rows = records_of("UPPLAN")
    rental = next(r for r in rows if r[14].startswith("17"))
    rental[15] = ""
    found = _check("UPPLAN", rows)
    assert "plan.tais_required" in rules(found, "error")
    rental[16] = "00170-000002"
    assert _check("UPPLAN", rows) == []


def test_field_count_header_and_empty_file() -> None:
    rows = records_of("UPPLAN")
    data = write_csv("UPPLAN", rows)
    short = data.replace(b",,0,", b",0,", 1)
    assert "csv.field_count" in rules(validate_csv(name_of("UPPLAN"), short))
    header = (
        ",".join(f.name for f in __import__("careplan.standard").standard.standard().layout("UPPLAN").fields).encode(
            "cp932"
        )
        + b"\r\n"
    )
    found = validate_csv(name_of("UPPLAN"), header + data)
    assert rules(found) == {"csv.header"}
    assert rules(validate_csv(name_of("UPPLAN"), b"")) == {"csv.empty"}


def test_mixed_versions_reported_once() -> None:
    rows = records_of("UPPLAN")
    for row in rows[1:]:
        row[0] = "202504"
    found = _check("UPPLAN", rows)
    assert [f.rule for f in found].count("csv.version_mixed") == 1
    assert [f.rule for f in found].count("csv.version_old") == 1
    old = next(f for f in found if f.rule == "csv.version_old")
    assert "第4版" in old.message and old.expected == "202407"


def test_unquoted_free_text_is_one_warning_per_field() -> None:
    data = write_csv("UPPLAN", records_of("UPPLAN")).replace(b'"', b"")
    found = validate_csv(name_of("UPPLAN"), data)
    assert [(f.rule, f.severity, f.field_no) for f in found] == [
        ("csv.free_text_unquoted", "warning", 7),
        ("csv.free_text_unquoted", "warning", 21),
        ("csv.free_text_unquoted", "warning", 18),  # 用具名称, first on the 福祉用具貸与 row
    ]


def test_quoted_codes_are_accepted() -> None:
    data = write_csv("UPPLAN", records_of("UPPLAN")).replace(b",202504,", b',"202504",')
    assert validate_csv(name_of("UPPLAN"), data) == []


def test_strict_makes_check_digits_errors() -> None:
    rows = records_of("UPPLAN")
    rows[0][1] = "131012"
    assert "field.insurer_check_digit" in rules(_check("UPPLAN", rows, strict=True), "error")


def test_unknown_name_cannot_be_validated() -> None:
    found = validate_csv("plan.csv", b"a,b\r\n")
    assert rules(found) == {"filename.prefix"}
    assert errors(found)


def test_image_must_be_jpeg() -> None:
    name = f"UPKIHON_IMAGE_{MANAGER}_46_{HELPER}_A2_20250420093000_0001.jpg"
    assert validate_csv(name, b"\xff\xd8\xff\xe0rest") == []
    assert rules(validate_csv(name, b"GIF89a")) == {"image.not_jpeg"}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("20240229", True),
        ("20250229", False),
        ("19000229", False),
        ("20000229", True),
        ("00000101", False),
        ("2025040１", False),
    ],
)
def test_real_dates(value: str, ok: bool) -> None:
    assert is_date(value) is ok


def test_months_and_times() -> None:
    assert is_month("202512") and not is_month("202500") and not is_month("２０２５０４")
    assert is_time("0000") and is_time("2359") and is_time("2400")
    assert not is_time("2401") and not is_time("0960") and not is_time("930")


def test_check_digit_warnings_once_per_value() -> None:
    bad = MANAGER[:9] + str((int(MANAGER[9]) + 1) % 10)
    rows = records_of("UPPLAN")
    for row in rows:
        row[5] = row[23] = bad
    found = _check("UPPLAN", rows)
    assert [(f.rule, f.field_no) for f in found] == [
        ("field.office_number.check_digit", 6),
        ("field.office_number.check_digit", 24),
    ]


def test_reading_stops_after_the_error_cap() -> None:
    rows = records_of("UPPLAN") * 100
    for row in rows:
        row[3] = "20250230"
    found = _check("UPPLAN", rows)
    assert len(found) == 201
    assert found[-1].rule == "findings.stopped" and found[-1].line == 201


@pytest.mark.parametrize(
    ("head", "what"), [(b"%PDF-1.7\n", "PDF"), (bytes.fromhex("d0cf11e0a1b11ae1"), "Excel"), (b"\x1f\x8b\x08", "gzip")]
)
def test_a_document_under_a_standard_name_is_one_finding(head: bytes, what: str) -> None:
    """A PDF or an old Excel file saved under a 第6表 name read as CSV gave up to 200 findings of
    quoting, field counts and control characters, none of which said what the file was."""
    found = validate_csv(name_of("UPPLAN"), head + bytes(range(256)) * 40)
    assert [(f.rule, f.severity) for f in found] == [("csv.not_text", "error")]
    assert what in found[0].message and is_japanese(found[0].message) and found[0].message_en


def test_an_unquoted_free_texts_value_is_its_beginning_with_its_full_length() -> None:
    """The warning carried the first 40 characters of the text as its value, with nothing to say
    that there was more: JSON readers and the report took them for the whole value."""
    rows = records_of("UPPLAN")
    rows[0][6] = "ケアマネ" * 25  # No.7 プラン担当者名, free text of 100 characters
    data = write_csv("UPPLAN", rows).replace(b'"', b"")
    first = next(f for f in validate_csv(name_of("UPPLAN"), data) if f.rule == "csv.free_text_unquoted")
    assert (first.value, first.value_length) == (("ケアマネ" * 25)[:40], 100)
    short = next(f for f in validate_csv(name_of("UPPLAN"), data) if f.field_no == 21)
    assert short.value_length is None  # the whole value: no length to add
