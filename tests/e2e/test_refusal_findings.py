"""What an office reads of the hub's refusal of a file's content: the findings travel whole in the
refusal's body (tools read `value` and `expected` as before), and the client shows them as
`careplan validate` does: the expectation in Japanese, a long value clipped with its length; the
real message of each refusal stays as REQUIREMENTS.md has it while what we say is accurate (line
ends, an Excel workbook under a CSV name)."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from rich.cells import cell_len

from careplan.errors import MSG_DATA_LOAD_FAILED, MSG_FORMAT_INVALID, CareplanError, Lang
from careplan.standard import write_csv
from fixtures.samples import sample_plan_set
from tests.client.test_render import _stderr_lines
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest
from tests.e2e.test_limits import signed
from tests.e2e.test_standard_round2 import _refused


def _plan_with(index: int, value: str) -> list[tuple[str, bytes]]:
    """The sample 第6表/第7表 unit from KYOTAKU to HOUMON, item `index` of the first UPPLAN record
    set to `value`."""
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    name = next(n for n in files if n.startswith("UPPLAN_"))
    records = list(csv.reader(io.StringIO(files[name].decode("cp932"), newline="")))
    records[0][index] = value
    return [(n, write_csv("UPPLAN", records) if n == name else data) for n, data in files.items()]


async def test_a_long_value_travels_whole_and_is_shown_clipped(hub: HubUnderTest) -> None:
    """A 5,000-character 単位数: the refusal's body carries it whole (never in its detail, which
    is logged); the client printed it whole too, folded over 70 lines."""
    error = await _refused(hub, KYOTAKU, HOUMON, _plan_with(7, "1" * 5000))
    assert (error.code, error.message) == ("FORMAT_INVALID", MSG_FORMAT_INVALID)
    [finding] = error.findings
    assert (finding["rule"], finding["value"]) == ("field.length", "1" * 5000)
    assert "1" * 7 not in error.detail
    for language, marker in ((Lang.JA, "…（全5,000文字）"), (Lang.EN, "… (5,000 characters)")):
        lines = _stderr_lines(error, language)
        assert any(marker in line for line in lines), lines
        assert "1" * 41 not in "".join(lines) and all(cell_len(line) <= 80 for line in lines)


async def test_the_expectation_travels_in_both_languages(hub: HubUnderTest) -> None:
    """A 5-digit 保険者番号: `expected` is as it was, `expected_ja` beside it is what the client
    shows in Japanese (it showed 「期待値 6 digits」)."""
    error = await _refused(hub, KYOTAKU, HOUMON, _plan_with(1, "13101"))
    [finding] = error.findings
    assert (finding["expected"], finding["expected_ja"]) == ("6 digits", "半角数字6桁")
    japanese = "\n".join(_stderr_lines(error, Lang.JA))
    assert "半角数字6桁" in japanese and "6 digits" not in japanese


async def test_a_file_with_cr_line_ends_is_told_cr_lf_or_lf(hub: HubUnderTest) -> None:
    """The hub refused it with the real message (R4.5), and its finding said 「改行は CR LF です」 and
    to save with CR LF, although the hub reads LF alone as well (decision D2)."""
    files = [(n, d.replace(b"\r\n", b"\r") if n.startswith("UPPLAN_") else d) for n, d in _plan_with(1, "131011")]
    error = await _refused(hub, KYOTAKU, HOUMON, files)
    assert (error.code, error.message) == ("FORMAT_INVALID", MSG_FORMAT_INVALID)
    lead = error.findings[0]
    assert (lead["rule"], lead["expected"]) == ("csv.quoting", "CR LF or LF line ends")
    assert "CR LF か LF" in str(lead["fix"]) and "CR LF or LF" in str(lead["fix_en"])
    japanese = "".join("".join(line.split()) for line in _stderr_lines(error, Lang.JA))
    assert "（改行はCRLFまたはLFです）" in japanese and "改行はCRLFです" not in japanese


async def test_a_workbook_under_a_standard_name_is_refused_as_r4_6_says_and_named(hub: HubUnderTest) -> None:
    """An .xlsx saved as UPPLAN_….CSV: the hub refuses it with the real data-load message (R4.6
    maps a zip to it), and where it said 'a zip archive' to unpack, it names the workbook and says
    to save it as CSV in Shift_JIS (MS932), to a client asking in Japanese as in English."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
    files = [(n, buffer.getvalue() if n.startswith("UPPLAN_") else d) for n, d in _plan_with(1, "131011")]
    for language, error in (await _refusals(hub, files, "e" * 32)).items():
        assert (error.code, error.message) == ("DATA_LOAD_FAILED", MSG_DATA_LOAD_FAILED)
        lead = error.findings[0]
        assert (lead["rule"], lead["value"]) == ("transmission.zip", "xlsx")
        assert "Shift_JIS (MS932)" in error.fix_in(language) and "展開" not in error.fix_in(language)
        shown = "".join("".join(line.split()) for line in _stderr_lines(error, language))
        named = "Excelブック（.xlsx）" if language is Lang.JA else "notCSVtextbutxlsx"
        assert shown.count(named) == 2, shown  # in the detail and in the finding
        assert "zipファイルは" not in shown and "unpack" not in shown
    assert await hub.transmission_count() == 0


@pytest.mark.parametrize(
    ("head", "named"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", {Lang.JA: "CSVではなくPDFです。", Lang.EN: "notCSVtextbutpdf"}),
        (
            bytes.fromhex("d0cf11e0a1b11ae1") + bytes(16) + bytes.fromhex("3e000300feff0900"),
            {Lang.JA: "CSVではなくWord/Excel（.doc/.xls）です。", Lang.EN: "notCSVtextbutole2(oldWord/Excel)"},
        ),
    ],
    ids=["pdf", "ole2"],
)
async def test_a_document_under_a_standard_name_is_named_in_the_detail(
    hub: HubUnderTest, head: bytes, named: dict[Lang, str]
) -> None:
    """A PDF or an old Word/Excel file saved as UPPLAN_….CSV (csv.not_text): the detail said 「PDF、
    Excel などの文書です」 in Japanese and only the rule in English, where an .xlsx under the same
    name was named; now it names the document as the finding does, in both languages."""
    data = head + "ケアプラン 山田太郎".encode("cp932") * 40
    files = [(n, data if n.startswith("UPPLAN_") else d) for n, d in _plan_with(1, "131011")]
    for language, error in (await _refusals(hub, files, "f" * 32)).items():
        assert (error.code, error.message) == ("FORMAT_INVALID", MSG_FORMAT_INVALID)
        assert error.findings[0]["rule"] == "csv.not_text"
        detail = "".join(error.detail_in(language).split())
        assert named[language] in detail and "などの文書" not in detail, detail
        assert "山田" not in error.detail_in(language)
        shown = "".join("".join(line.split()) for line in _stderr_lines(error, language))
        assert shown.count(named[language]) == 2, shown  # in the detail and in the finding
    assert await hub.transmission_count() == 0


async def _refusals(
    hub: HubUnderTest, files: list[tuple[str, bytes]], transmission_id: str
) -> dict[Lang, CareplanError]:
    """The hub's refusal of `files`, signed once, to a client asking in Japanese and in English."""
    manifest, signature = signed(hub, files, sender=KYOTAKU, recipient=HOUMON, transmission_id=transmission_id)
    refused: dict[Lang, CareplanError] = {}
    for language in (Lang.JA, Lang.EN):
        async with hub.client(KYOTAKU) as client:
            client.lang = str(language)
            await client.login(KYOTAKU.user, KYOTAKU.password)
            with pytest.raises(CareplanError) as caught:
                await client.upload(manifest, signature, files)
        refused[language] = caught.value
    return refused
