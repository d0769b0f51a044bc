"""File names: every example of the standard, the grammar, and what is reported about them."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from standard_testkit import HELPER, MANAGER, errors, name_of, rules

from careplan.standard import FileName, FileNameError, file_name_findings, parse_file_name

RAW = json.loads(resources.files("careplan").joinpath("data", "careplan-csv-layout-v4.1.json").read_text("utf-8"))
ANNEX_EXAMPLES = [f["filename_example"] for f in RAW["files"]] + [
    f["filename_example_alt"] for f in RAW["files"] if f.get("filename_example_alt")
]
SPEC_EXAMPLES = [e.split(" ")[-1] for section in RAW["sending_unit_examples"].values() for e in section]


@pytest.mark.parametrize("name", ANNEX_EXAMPLES)
def test_every_annex_example_parses_and_formats_back(name: str) -> None:
    parsed = parse_file_name(name)
    assert parsed.format() == name
    _, found = file_name_findings(name)
    # The examples use fictitious numbers: only check-digit and kind warnings may remain.
    assert errors(found) == []


def test_example_parts() -> None:
    parsed = parse_file_name("UPPLAN_201912_0300000100_43_0300000005_11_20191025200201.CSV")
    assert (parsed.file_id, parsed.month, parsed.sender, parsed.sender_kind) == ("UPPLAN", "201912", "0300000100", "43")
    assert (parsed.recipient, parsed.recipient_kind, parsed.serial) == ("0300000005", "11", "20191025200201")
    image = parse_file_name("UPKIHON_IMAGE_0300000100_43_0300000005_11_20191025200201_0001.JPG")
    assert (image.file_id, image.branch, image.month, image.extension) == ("UPKIHON_IMAGE", "0001", None, "JPG")
    assert parse_file_name("UPKIHON_SUB1_0300000100_43_0300000005_11_20191025200201.CSV").file_id == "UPKIHON_SUB1"


@pytest.mark.parametrize("name", SPEC_EXAMPLES)
def test_spec_examples_with_nine_digit_offices_are_reported(name: str) -> None:
    parsed, found = file_name_findings(name)
    if name.startswith("UPKIHON_000000"):
        assert parsed is None and rules(found) == {"filename.grammar"}  # open question 11
        return
    assert parsed is not None
    assert "office_number.structure" in rules(errors(found))
    assert any("9 digits" in (f.fix or "") for f in found)


def test_format_builds_the_canonical_name() -> None:
    fn = FileName(
        file_id="UPHOSOKU",
        month="000000",
        sender=MANAGER,
        sender_kind="43",
        recipient=HELPER,
        recipient_kind="11",
        serial="20250420093000",
    )
    assert fn.format() == f"UPHOSOKU_000000_{MANAGER}_43_{HELPER}_11_20250420093000.CSV"
    assert parse_file_name(fn.format()) == fn


def test_image_name_formats_with_jpg() -> None:
    fn = FileName(
        file_id="UPKIHON_IMAGE",
        month=None,
        sender=MANAGER,
        sender_kind="46",
        recipient=HELPER,
        recipient_kind="A2",
        serial="20250420093000",
        branch="0002",
    )
    assert fn.format() == f"UPKIHON_IMAGE_{MANAGER}_46_{HELPER}_A2_20250420093000_0002.jpg"
    assert parse_file_name(fn.format()) == fn


def test_filename_value_object_refuses_inconsistent_parts() -> None:
    with pytest.raises(ValueError, match="month"):
        FileName(
            file_id="UP1KYO",
            month="202504",
            sender=MANAGER,
            sender_kind="43",
            recipient=HELPER,
            recipient_kind="11",
            serial="20250420093000",
        )
    with pytest.raises(ValueError, match="unknown"):
        FileName(
            file_id="NOPE",
            month=None,
            sender=MANAGER,
            sender_kind="43",
            recipient=HELPER,
            recipient_kind="11",
            serial="20250420093000",
        )


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("report.pdf", "filename.prefix"),
        (f"UPPLAN_{MANAGER}_43_{HELPER}_11_20250420093000.CSV", "filename.grammar"),
        (f"UP1KYO_202504_{MANAGER}_43_{HELPER}_11_20250420093000.CSV", "filename.grammar"),
        (f"UPPLAN_202513_{MANAGER}_43_{HELPER}_11_20250420093000.CSV", "filename.month"),
        (f"UPPLAN_202504_{MANAGER}_43_{HELPER}_11_20250431093000.CSV", "filename.serial"),
        (f"UPPLAN_202504_{MANAGER}_43_{HELPER}_11_20250420093000.TXT", "filename.extension"),
        (f"UPKIHON_IMAGE_{MANAGER}_43_{HELPER}_11_20250420093000.JPG", "filename.grammar"),
    ],
)
def test_syntax_errors_refuse_parsing(name: str, rule: str) -> None:
    with pytest.raises(FileNameError) as caught:
        parse_file_name(name)
    assert rule in {f.rule for f in caught.value.findings}


def test_lower_case_csv_is_a_warning() -> None:
    parsed, found = file_name_findings(name_of("UPPLAN").replace(".CSV", ".csv"))
    assert parsed is not None
    assert rules(found) == {"filename.extension_case"}
    assert found[0].severity == "warning"


def test_image_extension_jpg_or_JPG() -> None:
    for ext in ("jpg", "JPG"):
        _, found = file_name_findings(f"UPKIHON_IMAGE_{MANAGER}_46_{HELPER}_A2_20250420093000_0001.{ext}")
        assert found == []


def test_check_digit_is_a_warning_unless_strict() -> None:
    bad = MANAGER[:9] + str((int(MANAGER[9]) + 1) % 10)
    _, found = file_name_findings(name_of("UPPLAN", sender=bad))
    assert [f.severity for f in found if f.rule == "office_number.check_digit"] == ["warning"]
    _, strict = file_name_findings(name_of("UPPLAN", sender=bad), strict=True)
    assert [f.severity for f in strict if f.rule == "office_number.check_digit"] == ["error"]


def test_same_office_and_kinds() -> None:
    _, found = file_name_findings(name_of("UPPLAN", recipient=MANAGER))
    assert "filename.same_office" in rules(found, "error")
    _, found = file_name_findings(name_of("UPPLAN", recipient_kind="33"))
    assert "filename.kind_out_of_scope" in rules(found, "error")
    _, found = file_name_findings(name_of("UPPLAN", recipient_kind="99"))
    assert "filename.kind_unknown" in rules(found, "warning")
    _, found = file_name_findings(name_of("UPPLAN", kind="15"))
    assert rules(found) == set()  # a care-management kind other than 43/46 that is in scope
    _, found = file_name_findings(name_of("UPPLAN", kind="99"))
    assert "filename.kind_manager" in rules(found, "warning")
    # 実績 flows back: the service side is the sender.
    _, found = file_name_findings(name_of("UPJSK", sender=HELPER, kind="41", recipient=MANAGER, recipient_kind="43"))
    assert "filename.kind_out_of_scope" in rules(found, "error")
