"""check_transmission and refusal: limits, types, zip, units, relations, precedence (R4)."""

from __future__ import annotations

import io
import zipfile

import pytest
from standard_testkit import HELPER, MANAGER, actuals_set, errors, name_of, plan_set, records_of, rules

from careplan.errors import CareplanError, Finding, Lang
from careplan.standard import check_transmission, code_for, refusal, write_csv
from careplan.standard.transmission import PRECEDENCE

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF"
GIF = b"GIF89a\x01\x00\x01\x00"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("UPPLAN.CSV", "x")
    return buffer.getvalue()


def test_sample_sets_pass_with_no_findings() -> None:
    assert check_transmission(list(plan_set().items()), sender=MANAGER, recipient=HELPER) == []
    assert check_transmission(list(actuals_set().items()), sender=HELPER, recipient=MANAGER) == []
    assert refusal([]) is None


def test_sample_sets_are_deterministic_and_parametrised() -> None:
    assert plan_set() == plan_set()
    from fixtures.samples import sample_plan_set

    other = sample_plan_set(sender=MANAGER, recipient=HELPER, month="202602", created="20260125080000")
    assert all("_202602_" in name and "20260125080000" in name for name in other)
    assert check_transmission(list(other.items()), sender=MANAGER, recipient=HELPER) == []


def test_manifest_must_match_the_names() -> None:
    files = list(plan_set().items())
    found = check_transmission(files, sender=HELPER, recipient=MANAGER)
    assert {"unit.sender_mismatch", "unit.recipient_mismatch"} <= rules(found)
    assert refusal(found).code == "COMBINATION_INVALID"  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["plan.zip", "UPPLAN.CSV", "report.pdf", "noext"])
def test_zip_by_magic_whatever_the_name(name: str) -> None:
    found = check_transmission([(name, _zip())])
    assert "transmission.zip" in rules(found)
    error = refusal(found)
    assert error is not None and error.code == "DATA_LOAD_FAILED"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("letter.pdf", PDF),
        ("photo.png", PNG),
        ("photo.jpg", JPEG),
        ("photo.JPEG", JPEG),
        ("map.gif", GIF),
        ("memo.txt", "申し送り事項\r\n".encode("cp932")),
        ("list.csv", b"a,b\r\n"),
    ],
)
def test_attachments_alone_are_accepted(name: str, data: bytes) -> None:
    assert check_transmission([(name, data)]) == []


@pytest.mark.parametrize(
    ("name", "data", "rule"),
    [
        ("plan.docx", b"whatever", "transmission.file_type"),
        ("plan.xlsx", b"whatever", "transmission.file_type"),
        ("fake.pdf", b"hello", "transmission.file_content"),
        ("fake.png", JPEG, "transmission.file_content"),
        ("old.txt", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "transmission.file_content"),
        ("bin.csv", b"a\x00b", "transmission.file_content"),
        ("../etc.pdf", PDF, "transmission.file_name"),
    ],
)
def test_file_types_judged_by_extension_and_content(name: str, data: bytes, rule: str) -> None:
    found = check_transmission([(name, data)])
    assert rule in rules(found)
    assert refusal(found).code == "FILE_TYPE_NOT_ALLOWED"  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["計画書.pdf", "photo.PNG", "photo.jpg", "map.gif"])
def test_an_empty_image_or_pdf_is_told_it_is_empty(name: str) -> None:
    """A 0-byte PDF was told its content did not match its extension (value 「unknown」) and to
    convert Word or Excel to PDF: it is empty, most likely a copy or save that failed."""
    found = check_transmission([(name, b"")])
    assert [(f.rule, f.value) for f in found] == [("transmission.file_content", "0")]
    assert found[0].message.startswith("ファイルが空です（0バイト）。") and "保存し直し" in (found[0].fix or "")
    error = refusal(found)
    assert error is not None and error.code == "FILE_TYPE_NOT_ALLOWED" and "ファイルが空です" in error.detail
    assert check_transmission([("メモ.txt", b"")]) == []  # an empty note is still a note


def test_attachments_do_not_travel_with_a_unit() -> None:
    found = check_transmission([*plan_set().items(), ("letter.pdf", PDF)])
    assert rules(errors(found)) == {"transmission.mixed_kinds"}
    assert refusal(found).code == "COMBINATION_INVALID"  # type: ignore[union-attr]


def test_limits() -> None:
    pdfs = [(f"doc{i}.pdf", PDF) for i in range(8)]
    found = check_transmission(pdfs)
    assert rules(found) == {"transmission.too_many_files"}
    assert refusal(found).code == "TOO_MANY_FILES"  # type: ignore[union-attr]
    # how many, against how many: the table's line said only that there were more than 7
    assert found[0].message == "1回の送信が8ファイルです。1回に送れるのは7ファイルまでです。"
    assert "1回の送信が8ファイルです。" in refusal(found).detail  # type: ignore[union-attr]
    big = [("big.pdf", PDF + b"\x00" * (10 * 1024 * 1024 - len(PDF) + 1))]
    found = check_transmission(big)
    assert rules(found) == {"transmission.too_large"}
    assert (
        found[0].message
        == "1回の送信が10.0MB（10,485,761バイト）です。1回に送れるのは10MB（10,485,760バイト）までです。"
    )
    assert refusal(found).code == "TRANSMISSION_TOO_LARGE"  # type: ignore[union-attr]
    exact = [("big.pdf", PDF + b"\x00" * (10 * 1024 * 1024 - len(PDF)))]
    assert check_transmission(exact) == []
    assert rules(check_transmission([])) == {"transmission.empty"}


@pytest.mark.parametrize("drop", ["UPSIKYU", "UPHOSOKU", "UPPLAN"])
def test_incomplete_unit_is_a_combination_error(drop: str) -> None:
    files = [(n, d) for n, d in plan_set().items() if not n.startswith(drop + "_")]
    found = check_transmission(files)
    assert "unit.combination" in rules(found)
    error = refusal(found)
    assert error is not None and error.code == "COMBINATION_INVALID"
    assert error.message.startswith("ファイルの組み合わせが正しくありません")


def test_units_do_not_mix_serials_or_kinds() -> None:
    files = list(plan_set().items())
    name, data = files[0]
    files[0] = (name.replace("20250420093000", "20250420093001"), data)
    assert "unit.serial_mismatch" in rules(check_transmission(files))
    files = list(plan_set().items()) + list(actuals_set().items())
    assert "unit.combination" in rules(check_transmission(files))


def test_duplicate_names_and_files() -> None:
    files = list(plan_set().items())
    found = check_transmission([*files, files[0]])
    assert {"transmission.duplicate_name", "unit.duplicate_file"} <= rules(found)


def test_linked_keys_must_exist_in_the_parent() -> None:
    files = plan_set()
    plan_name = next(n for n in files if n.startswith("UPPLAN_"))
    rows = [r for r in records_of("UPPLAN") if r[2] != "H123456789"]
    files[plan_name] = write_csv("UPPLAN", rows)
    found = check_transmission(list(files.items()))
    missing = [f for f in found if f.rule == "relation.missing_parent"]
    assert {f.file.split("_")[0] for f in missing} == {"UPSIKYU", "UPHOSOKU"}  # type: ignore[union-attr]
    assert all(f.value and "H123456789" in f.value and f.line for f in missing)
    assert refusal(found).code == "FORMAT_INVALID"  # content, not combination (D14)  # type: ignore[union-attr]


def test_first_table_unit_with_hosoku_000000() -> None:
    kyo1 = [
        [
            "202407",
            "131011",
            "0001234567",
            "20250401",
            "",
            "",
            "",
            "山田 花子",
            "居宅介護支援さくら",
            "",
            "",
            "",
            MANAGER,
            "20250401",
            "20240401",
            "21",
            "2",
            "",
            "",
            "",
            "22",
            "",
            "",
            "",
            "",
            "",
            MANAGER,
            "",
        ]
    ]
    kyo2 = [
        [
            "202407",
            "131011",
            "0001234567",
            "20250401",
            "20250401",
            "1",
            "一人で入浴できない",
            "1",
            "安全に入浴できる",
            "週2回入浴する",
            "6か月",
            "3か月",
            "1",
            "入浴介助",
            "Y",
            "訪問介護",
            HELPER,
            "訪問介護ひまわり",
            "週2回",
            "3か月",
            MANAGER,
            "",
        ]
    ]
    kyo3 = [
        [
            "202407",
            "131011",
            "0001234567",
            "20250401",
            "20250401",
            "訪問介護",
            "1",
            "0900",
            "0930",
            "起床",
            "0700",
            "0730",
            "通院（月1回）",
        ]
    ]
    hosoku = records_of("UPHOSOKU")[:1]
    hosoku[0][3], hosoku[0][62] = "20250401", "000000"
    files = [
        (name_of("UP1KYO", month=None), write_csv("UP1KYO", kyo1)),
        (name_of("UP2KYO", month=None), write_csv("UP2KYO", kyo2)),
        (name_of("UP3KYO", month=None), write_csv("UP3KYO", kyo3)),
        (name_of("UPHOSOKU", month="000000"), write_csv("UPHOSOKU", hosoku)),
    ]
    assert check_transmission(files, sender=MANAGER, recipient=HELPER) == []
    files[3] = (name_of("UPHOSOKU", month="202504"), files[3][1])
    assert "unit.hosoku_month" in rules(check_transmission(files))
    kyo2[0][4] = "20250402"
    files[1] = (files[1][0], write_csv("UP2KYO", kyo2))
    assert "relation.missing_parent" in rules(check_transmission(files))


def test_delete_units_travel_alone() -> None:
    dlt = [["202407", "131011", "0001234567", "202504"]]
    files = [(name_of("DLTPLAN"), write_csv("DLTPLAN", dlt))]
    assert check_transmission(files) == []
    assert "unit.combination" in rules(check_transmission([*files, *plan_set().items()]))


def test_kihon_unit_with_companions_and_image() -> None:
    kihon = [""] * 71
    kihon[:6] = ["202407", "131011", "0001234567", "20250401", "1", "1"]
    kihon[13:17] = ["ヤマダ タロウ", "山田 太郎", "1", "19400315"]
    image = f"UPKIHON_IMAGE_{MANAGER}_46_{HELPER}_A2_20250420093000_0001.jpg"
    kihon[61] = image
    sub1 = [["202407", "131011", "0001234567", "20250401", "0700", "起床", "見守り"]]

    def nm(file_id: str) -> str:
        return name_of(file_id, month=None, kind="46", recipient_kind="A2")

    files = [
        (nm("UPKIHON"), write_csv("UPKIHON", [kihon])),
        (nm("UPKIHON_SUB1"), write_csv("UPKIHON_SUB1", sub1)),
        (image, JPEG),
    ]
    assert check_transmission(files) == []
    found = check_transmission(files[:2])
    assert rules(found) == {"relation.image_missing"} and not errors(found)


def test_format_errors_refuse_as_format_invalid() -> None:
    files = plan_set()
    name = next(n for n in files if n.startswith("UPPLAN_"))
    files[name] = files[name].replace(b"20250403", b"20250431", 1)
    error = refusal(check_transmission(list(files.items())))
    assert isinstance(error, CareplanError) and error.code == "FORMAT_INVALID"
    assert error.message.startswith("ケアプランデータの書式フォーマットが正しくありません")
    assert "20250431" in str(error.findings) and "No.10" in error.detail


def test_refusal_precedence_and_contents() -> None:
    def f(rule: str, severity: str = "error") -> Finding:
        return Finding(rule=rule, message=rule, severity=severity, file="x", fix=f"fix {rule}")

    findings = [
        f("field.date"),
        f("unit.combination"),
        f("transmission.too_large"),
        f("transmission.too_many_files"),
        f("transmission.file_type"),
        f("transmission.zip"),
        f("csv.free_text_unquoted", "warning"),
    ]
    expected = [
        "DATA_LOAD_FAILED",
        "FILE_TYPE_NOT_ALLOWED",
        "TOO_MANY_FILES",
        "TRANSMISSION_TOO_LARGE",
        "COMBINATION_INVALID",
        "FORMAT_INVALID",
    ]
    while len(findings) > 1:
        error = refusal(findings)
        assert error is not None and error.code == expected.pop(0)
        assert len(error.findings) == len(findings)  # every finding, warnings included
        assert error.fix_in(Lang.EN).startswith("fix ")  # the finding's own fix; Japanese per rule
        findings = [x for x in findings if code_for(x) != error.code]
    assert refusal(findings) is None  # only the warning is left
    assert list(PRECEDENCE).index("SAME_OFFICE") < list(PRECEDENCE).index("COMBINATION_INVALID")


def test_same_office() -> None:
    files = {n.replace(HELPER, MANAGER): d for n, d in plan_set().items()}
    error = refusal(check_transmission(list(files.items())))
    assert error is not None and error.code == "SAME_OFFICE"
    error = refusal(check_transmission([("letter.pdf", PDF)], sender=MANAGER, recipient=MANAGER))
    assert error is not None and error.code == "SAME_OFFICE"
