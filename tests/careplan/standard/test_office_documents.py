"""A Word or Excel file is a zip container, but the office must convert it to PDF (R4.2), not
unpack it (R4.6); a real zip archive must be unpacked (issue 13)."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careplan.errors import CATALOGUE, Lang
from careplan.standard import check_transmission, refusal, validate_csv
from careplan.standard.content import SNIFF, Kind, classify, zip_document
from careplan.standard.transmission import _brief


def _zip(member: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, "<w:document/>")
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["ケアプラン説明.docx", "実績一覧.XLSX", "資料.pptx", "表.ods"])
def test_office_documents_are_told_to_become_pdf(name: str) -> None:
    kind, [finding] = classify(name, _zip("word/document.xml"))
    assert kind is Kind.REFUSED and finding.rule == "transmission.file_type"
    assert "PDF" in (finding.fix or "") and "PDF" in finding.message
    error = refusal([finding])
    assert error is not None and error.code == "FILE_TYPE_NOT_ALLOWED"
    assert "PDF" in error.fix_in(Lang.JA) and "PDF" in error.fix_in(Lang.EN)


def test_a_zip_archive_is_told_to_be_unpacked_whatever_the_real_message_says() -> None:
    kind, [finding] = classify("今月分.zip", _zip("a.csv"))
    assert kind is Kind.ZIP and finding.rule == "transmission.zip"
    error = refusal([finding])
    assert error is not None and error.code == "DATA_LOAD_FAILED"
    # The real message says wait, retry or restart; our explanation and fix say why that will not help.
    assert "展開" in error.fix_in(Lang.JA) and "unpack" in error.fix_in(Lang.EN).lower()
    assert "zip" in CATALOGUE["DATA_LOAD_FAILED"].explanation_ja


@pytest.mark.parametrize("language", [Lang.JA, Lang.EN])
def test_the_catalogues_fix_for_data_load_failed_covers_archives_and_workbooks(language: Lang) -> None:
    """A DATA_LOAD_FAILED with no fix of its own in the language shown falls back to the
    catalogue's, which only said to unpack a zip: it also covers an Excel workbook or another
    office document under a standard CSV name (content.not_text), and keeps the real message."""
    from careplan.errors import MSG_DATA_LOAD_FAILED, CareplanError

    error = CareplanError("DATA_LOAD_FAILED")
    fix = error.fix_in(language)
    assert fix == CATALOGUE["DATA_LOAD_FAILED"].fix_in(language) and error.message == MSG_DATA_LOAD_FAILED
    words = (
        ("展開", "Excel ブック（.xlsx）", "介護ソフト", "利用申請")
        if language is Lang.JA
        else ("unpack", ".xlsx", "care software", "利用申請")
    )
    assert all(word in fix for word in words), fix
    assert "Shift_JIS (MS932)" in fix


def test_check_transmission_refuses_a_docx_with_the_type_code() -> None:
    error = refusal(check_transmission([("説明.docx", _zip("word/document.xml"))]))
    assert error is not None and error.code == "FILE_TYPE_NOT_ALLOWED"


class _Stream(io.RawIOBase):
    """A file that cannot seek: zipfile writes each member's sizes after its data (flag bit 3),
    as programs that write a workbook as a stream do."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def _workbook(*, streamed: bool = False) -> bytes:
    """An Excel workbook as Excel lays it out: [Content_Types].xml, _rels, then xl/…."""
    members = {
        "[Content_Types].xml": "<Types>" + "<Override/>" * 40 + "</Types>",
        "_rels/.rels": "<Relationships/>",
        "xl/workbook.xml": "<workbook><sheets><sheet name='第6表'/></sheets></workbook>",
        "xl/worksheets/sheet1.xml": "<worksheet>" + "<row/>" * 2000 + "</worksheet>",
    }
    target: io.BytesIO | _Stream = _Stream() if streamed else io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as book:
        for member, text in members.items():
            book.writestr(member, text)
    return bytes(target.data) if isinstance(target, _Stream) else target.getvalue()


PLAN_NAME = "UPPLAN_202504_1312300013_43_1311700023_11_20250420093000.CSV"


@pytest.mark.parametrize("streamed", [False, True])
def test_a_workbook_under_a_standard_name_is_named_and_told_to_be_saved_as_csv(streamed: bool) -> None:
    """An .xlsx saved as UPPLAN_….CSV was refused as a zip archive and told to unpack it: the code
    and the real message stay (R4.6), what we say names the workbook and how to save it as CSV."""
    from careplan.errors import MSG_DATA_LOAD_FAILED

    kind, [finding] = classify(PLAN_NAME, _workbook(streamed=streamed))
    assert kind is Kind.ZIP and finding.rule == "transmission.zip"
    assert "Excel ブック（.xlsx）" in finding.message and "xlsx" in (finding.message_en or "")
    assert "Shift_JIS (MS932)" in (finding.fix or "") and "Shift_JIS (MS932)" in (finding.fix_en or "")
    assert finding.expected_ja and "展開" not in (finding.fix or "")
    error = refusal([finding])
    assert error is not None and (error.code, error.message) == ("DATA_LOAD_FAILED", MSG_DATA_LOAD_FAILED)
    assert "Excel ブック（.xlsx）" in error.detail_in(Lang.JA) and "zipファイルは" not in error.detail_in(Lang.JA)
    assert "xlsx" in error.detail_in(Lang.EN)
    assert "CSV" in error.fix_in(Lang.JA) and "展開" not in error.fix_in(Lang.JA)
    assert "Excel" in error.explanation_in(Lang.JA)  # the catalogue's reading of R4.6 names it too


OLE2 = bytes.fromhex("d0cf11e0a1b11ae1")  # an old Word or Excel file (.doc, .xls)
DOCUMENTS = [
    (b"%PDF-1.7\n", "PDF です", "pdf"),
    (OLE2, "Word/Excel（.doc/.xls）です", "ole2 (old Word/Excel)"),
]


@pytest.mark.parametrize(("head", "named_ja", "named_en"), DOCUMENTS, ids=["pdf", "ole2"])
def test_a_document_under_a_standard_name_is_named_in_the_refusals_detail(
    head: bytes, named_ja: str, named_en: str
) -> None:
    """A PDF or an old Excel file saved as UPPLAN_….CSV (csv.not_text): the detail said only the
    table's 「PDF、Excel などの文書です」 in Japanese and nothing in English, where an .xlsx under
    the same name (transmission.zip) was named; both now say the finding's own words."""
    [finding] = validate_csv(PLAN_NAME, head + bytes(range(256)) * 4)
    assert finding.rule == "csv.not_text"
    assert _brief(finding, japanese=True) == f"{PLAN_NAME} (csv.not_text): ファイルの中身が CSV ではなく {named_ja}。"
    assert _brief(finding) == f"{PLAN_NAME} (csv.not_text): the file is not CSV text but {named_en}"
    error = refusal([finding])
    assert error is not None and error.code == "FORMAT_INVALID"
    assert error.detail_in(Lang.JA) == f"エラー 1件: {_brief(finding, japanese=True)}"
    assert error.detail_in(Lang.EN) == f"1 error(s): {_brief(finding)}"
    assert "などの文書" not in error.detail_in(Lang.JA)


def test_a_workbook_and_a_pdf_are_named_in_the_detail_alike() -> None:
    """The zip check's finding and the validator's are worded by one function (content.not_text)
    and briefed by one path: their details differ in the rule and the document only."""
    [book] = classify(PLAN_NAME, _workbook())[1]
    [pdf] = validate_csv(PLAN_NAME, b"%PDF-1.7\n")
    for japanese in (True, False):
        shown = _brief(book, japanese=japanese).replace("transmission.zip", "csv.not_text")
        assert shown.replace("Excel ブック（.xlsx）", "PDF ").replace("xlsx", "pdf") == _brief(pdf, japanese=japanese)


@settings(max_examples=100, deadline=None)
@given(head=st.sampled_from([head for head, _, _ in DOCUMENTS]), rest=st.binary(max_size=600))
def test_nothing_from_inside_a_document_reaches_the_detail(head: bytes, rest: bytes) -> None:
    """The detail may be logged: whatever a document holds after its first bytes, it reads the
    same (the finding's message names the kind of document from a table, nothing else)."""
    [finding] = validate_csv(PLAN_NAME, head + rest)
    [alone] = validate_csv(PLAN_NAME, head)
    error, bare = refusal([finding]), refusal([alone])
    assert error is not None and bare is not None
    for language in (Lang.JA, Lang.EN):
        assert error.detail_in(language) == bare.detail_in(language)


def test_a_workbook_under_an_attachment_name_is_told_to_become_pdf_or_csv() -> None:
    kind, [finding] = classify("利用者一覧.csv", _workbook())
    assert kind is Kind.ZIP and finding.rule == "transmission.zip"
    assert "Excel ブック（.xlsx）" in finding.message and "PDF" in (finding.fix or "")


def test_a_word_document_under_a_standard_name_is_named() -> None:
    kind, [finding] = classify(PLAN_NAME, _zip("word/document.xml"))
    assert kind is Kind.ZIP and "Word 文書（.docx）" in finding.message


def test_bulk_sorting_and_the_validator_name_a_workbook_too() -> None:
    """The bulk send's sorting said 'a zip archive cannot be sent as is'; validate_csv, given the
    bytes directly (not through check_transmission), read the workbook as CSV into up to 200
    findings. Both now say what csv.not_text says of a PDF."""
    from careplan.standard import sort_bulk, validate_csv

    [(name, why)] = sort_bulk([(PLAN_NAME, _workbook())]).unplaced
    assert (name, why.rule, why.value) == (PLAN_NAME, "transmission.zip", "xlsx")
    assert "Excel ブック（.xlsx）" in why.message
    [finding] = validate_csv(PLAN_NAME, _workbook())
    assert (finding.rule, finding.value) == ("csv.not_text", "xlsx") and why.fix == finding.fix


def test_a_zip_of_repeated_signatures_is_judged_by_its_head_alone() -> None:
    """10 MB of local-header signatures under a standard name: judged on the first SNIFF bytes, as
    the hub judges a streamed file's head, not walked signature by signature to its end."""
    data = b"PK\x03\x04" * 2_500_000
    assert zip_document(data) is None
    name = b"xl/workbook.xml"
    header = b"PK\x03\x04" + b"\x00" * 22 + len(name).to_bytes(2, "little") + b"\x00\x00" + name
    assert zip_document(header) == "xlsx"
    assert zip_document(b"PK\x03\x04" + b"\x00" * SNIFF + header) is None  # past the head
