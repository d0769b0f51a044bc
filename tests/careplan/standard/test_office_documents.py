"""A Word or Excel file is a zip container, but the office must convert it to PDF (R4.2), not
unpack it (R4.6); a real zip archive must be unpacked (issue 13)."""

from __future__ import annotations

import io
import zipfile

import pytest

from careplan.errors import CATALOGUE, Lang
from careplan.standard import check_transmission, refusal
from careplan.standard.content import Kind, classify


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


def test_check_transmission_refuses_a_docx_with_the_type_code() -> None:
    error = refusal(check_transmission([("説明.docx", _zip("word/document.xml"))]))
    assert error is not None and error.code == "FILE_TYPE_NOT_ALLOWED"
